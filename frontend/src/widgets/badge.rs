//! Badges and the levels that colour them.

use leptos::prelude::*;

/// How alarming something is; maps to the `ok` / `warn` / `crit` / `neutral` CSS classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    Warn,
    Crit,
    Neutral,
}

impl Level {
    pub fn class(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warn => "warn",
            Self::Crit => "crit",
            Self::Neutral => "neutral",
        }
    }

    /// `badge ok`, `badge crit`, …
    pub fn badge(self) -> String {
        format!("badge {}", self.class())
    }
}

#[component]
pub fn Badge(
    level: Level,
    #[prop(into)] text: String,
    #[prop(optional, into)] title: String,
) -> impl IntoView {
    view! { <span class=level.badge() title=title>{text}</span> }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_name_their_classes() {
        assert_eq!(Level::Crit.badge(), "badge crit");
        assert_eq!(Level::Neutral.class(), "neutral");
    }
}

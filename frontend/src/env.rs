//! The environment the console looks at. The page URL's `env=` query parameter names it (absent:
//! the backend's default environment, named too once the list of environments arrived); every
//! API call carries it (`api::get_json` and `api::post_json` pass their path through [`href`])
//! and so does every internal link, so a permalink names its environment. A navigation that
//! changes it reloads the page ([`reload_on_env_change`]): nothing fetched for one environment
//! stays on screen for another.
//!
//! Also here: the list of environments (fetched once, provided as context by the app) and the
//! words and colours the header and the dialogs show for one.

use std::collections::BTreeMap;

use leptos::prelude::*;
use triage_shared::ApiError;
use triage_shared::env::{ENV_PARAM, EnvironmentInfo, Environments, Protection};

use crate::api;
use crate::format::url::encode;

/// The environment the page URL names (`env=`), if any; `None` means the default one.
pub fn current_env() -> Option<String> {
    #[cfg(target_arch = "wasm32")]
    {
        let search = web_sys::window()?.location().search().ok()?;
        let params = web_sys::UrlSearchParams::new_with_str(&search).ok()?;
        params.get(ENV_PARAM).filter(|e| !e.is_empty())
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        None
    }
}

thread_local! {
    /// The backend's default environment, once `/api/environments` answered.
    static DEFAULT_ENV: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// The environment a URL without `env=` is about, once known.
pub fn default_env() -> Option<String> {
    DEFAULT_ENV.with(|d| d.borrow().clone())
}

/// The environment the console looks at: the URL's, else the default once known.
pub fn effective_env() -> Option<String> {
    current_env().or_else(default_env)
}

/// `href` (a path with or without a query and a fragment) with its `env=` set to `env`, or
/// removed when `env` is `None`; every other parameter is kept as it is.
pub fn set_env_in(href: &str, env: Option<&str>) -> String {
    let (before_hash, hash) = match href.find('#') {
        Some(i) => href.split_at(i),
        None => (href, ""),
    };
    let (path, query) = before_hash.split_once('?').unwrap_or((before_hash, ""));
    let mut pairs: Vec<String> = query
        .split('&')
        .filter(|pair| !pair.is_empty() && pair.split('=').next() != Some(ENV_PARAM))
        .map(str::to_owned)
        .collect();
    if let Some(env) = env {
        pairs.push(format!("{ENV_PARAM}={}", encode(env)));
    }
    if pairs.is_empty() { format!("{path}{hash}") } else { format!("{path}?{}{hash}", pairs.join("&")) }
}

/// An internal link or API path in the current environment: `path` with its `env=` (left
/// without one only while the default environment's name is not known yet: both mean it).
pub fn href(path: &str) -> String {
    match effective_env() {
        Some(env) => set_env_in(path, Some(&env)),
        None => path.to_owned(),
    }
}

/// `path` in environment `env`, whatever the current one is (a row of another environment).
pub fn href_in(path: &str, env: &str) -> String {
    set_env_in(path, Some(env))
}

/// The page's own URL (path, query, fragment).
pub fn here() -> String {
    web_sys::window()
        .map(|w| w.location())
        .map(|l| {
            format!(
                "{}{}{}",
                l.pathname().unwrap_or_default(),
                l.search().unwrap_or_default(),
                l.hash().unwrap_or_default()
            )
        })
        .unwrap_or_else(|| "/".to_owned())
}

/// Reloads the page when a navigation (a link, back or forward) changes the URL's environment,
/// so every resource, stream and the session are fetched again for the new one. Call once,
/// inside the router.
pub fn reload_on_env_change() {
    let location = leptos_router::hooks::use_location();
    // No `env=` and the default's name are the same environment: compared once both are known.
    let same = |a: &Option<String>, b: &Option<String>| {
        a.clone().or_else(default_env) == b.clone().or_else(default_env)
    };
    Effect::new(move |previous: Option<Option<String>>| {
        let env = location.query.read().get(ENV_PARAM).filter(|e| !e.is_empty());
        if let Some(previous) = previous
            && !same(&previous, &env)
            && let Some(window) = web_sys::window()
        {
            let _ = window.location().reload();
        }
        env
    });
}

/// The environments, fetched once for the whole console.
#[derive(Clone, Copy)]
pub struct EnvContext {
    pub list: LocalResource<Result<Environments, ApiError>>,
}

impl EnvContext {
    /// The list once it arrived (`None` while loading or when it failed).
    pub fn environments(&self) -> Option<Environments> {
        self.list.get().and_then(Result::ok)
    }

    /// The current environment, once the list arrived and unless the URL names an unknown one.
    pub fn current(&self) -> Option<EnvironmentInfo> {
        self.environments().and_then(|all| current_info(&all, current_env().as_deref()).cloned())
    }

    /// The current environment's name: the URL's, else the default once known.
    pub fn current_name(&self) -> Option<String> {
        current_env().or_else(|| self.environments().map(|all| all.default))
    }
}

/// Fetches the environments and provides them to every page.
pub fn provide_environments() -> EnvContext {
    let context = EnvContext {
        list: LocalResource::new(|| async {
            let answer = api::environments().await;
            if let Ok(all) = &answer {
                DEFAULT_ENV.with(|d| *d.borrow_mut() = Some(all.default.clone()));
            }
            answer
        }),
    };
    provide_context(context);
    context
}

/// The console's environments (a fresh fetch outside the app, e.g. in a test harness).
pub fn use_environments() -> EnvContext {
    use_context::<EnvContext>().unwrap_or_else(provide_environments)
}

/// The environment `named` (the URL's `env=`) or, without a name, the default one.
pub fn current_info<'a>(all: &'a Environments, named: Option<&str>) -> Option<&'a EnvironmentInfo> {
    all.get(named.unwrap_or(&all.default))
}

/// The header's banner for a guarded environment; `None` for a standard one.
pub fn protection_banner(env: &EnvironmentInfo) -> Option<String> {
    match env.protection {
        Protection::Standard => None,
        Protection::Production => {
            Some(format!("{} — production: every action needs its target typed and a reason", env.name))
        }
        Protection::Approval => Some(format!(
            "{} — approval: every action needs its target typed and a reason, then waits for a second operator",
            env.name
        )),
    }
}

/// `#rrggbb` as its three channels.
pub fn parse_colour(colour: &str) -> Option<(u8, u8, u8)> {
    let hex = colour.trim().strip_prefix('#')?;
    if hex.len() != 6 || !hex.is_ascii() {
        return None;
    }
    let channel = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some((channel(0)?, channel(2)?, channel(4)?))
}

/// WCAG relative luminance of a colour, 0 (black) to 1 (white).
fn luminance((r, g, b): (u8, u8, u8)) -> f64 {
    let linear = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.039_28 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
    };
    0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)
}

/// The background and the text colour (black or white, whichever contrasts more) of an
/// environment's colour; a colour that is not `#rrggbb` becomes a neutral dark grey.
pub fn colours(colour: &str) -> (String, &'static str) {
    let rgb = parse_colour(colour).unwrap_or((0x44, 0x44, 0x44));
    let l = luminance(rgb);
    // Contrast ratios against white and black text: (L1 + 0.05) / (L2 + 0.05).
    let on_white = 1.05 / (l + 0.05);
    let on_black = (l + 0.05) / 0.05;
    let text = if on_black >= on_white { "#000000" } else { "#ffffff" };
    (format!("#{:02x}{:02x}{:02x}", rgb.0, rgb.1, rgb.2), text)
}

/// Which environment a runbook link names: `env=`, else the alert label's value, else none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEnv {
    /// The link names no environment: the default one.
    Default,
    /// The link names this known environment.
    Known(String),
    /// The link names an environment this Triage does not serve: `value` of parameter `label`.
    Unknown { value: String, label: String },
}

/// The environment a runbook link's query names (`env=` first, then `all.alert_label`),
/// resolved by name or by one of an environment's alert values.
pub fn link_env(all: &Environments, query: &BTreeMap<String, String>) -> LinkEnv {
    let named =
        query.get(ENV_PARAM).filter(|v| !v.is_empty()).map(|v| (ENV_PARAM.to_owned(), v.clone())).or_else(
            || {
                let label = all.alert_label.as_deref()?;
                query.get(label).filter(|v| !v.is_empty()).map(|v| (label.to_owned(), v.clone()))
            },
        );
    match named {
        None => LinkEnv::Default,
        Some((label, value)) => match all.resolve(&value) {
            Some(env) => LinkEnv::Known(env.name.clone()),
            None => LinkEnv::Unknown { value, label },
        },
    }
}

/// The unknown-environment page's sentence.
pub fn unknown_env_text(value: &str, label: &str, known: &[&str]) -> String {
    let known = if known.is_empty() { "none".to_owned() } else { known.join(", ") };
    format!(
        "This link names the environment `{value}` (label `{label}`), which this Triage does not serve. Known environments: {known}."
    )
}

#[cfg(test)]
mod tests {
    use triage_shared::env::Upstreams;

    use super::*;

    fn env(name: &str, values: &[&str]) -> EnvironmentInfo {
        EnvironmentInfo {
            name: name.to_owned(),
            colour: "#c92a2a".to_owned(),
            protection: Protection::Production,
            role: None,
            alert_values: values.iter().map(|v| (*v).to_owned()).collect(),
            approval_ttl_secs: None,
            upstreams: Upstreams::default(),
        }
    }

    fn all() -> Environments {
        Environments {
            default: "staging".to_owned(),
            alert_label: Some("cluster".to_owned()),
            environments: vec![env("staging", &[]), env("prod-eu", &["eu-west-1"])],
        }
    }

    fn query(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn env_is_set_replaced_or_removed_and_other_parameters_stay() {
        assert_eq!(set_env_in("/alerts", Some("prod-eu")), "/alerts?env=prod-eu");
        assert_eq!(set_env_in("/k?ns=a&env=x&tab=pods", Some("b")), "/k?ns=a&tab=pods&env=b");
        assert_eq!(set_env_in("/k?env=x#top", None), "/k#top");
        assert_eq!(set_env_in("/k?environment=1", Some("a b")), "/k?environment=1&env=a%20b");
        assert_eq!(set_env_in("/api/approvals?", Some("s")), "/api/approvals?env=s");
        assert_eq!(href("/alerts"), "/alerts", "no environment named outside the browser");
    }

    #[test]
    fn links_name_their_environment_by_name_or_alert_value() {
        let all = all();
        assert_eq!(link_env(&all, &query(&[("namespace", "a")])), LinkEnv::Default);
        assert_eq!(link_env(&all, &query(&[("cluster", "eu-west-1")])), LinkEnv::Known("prod-eu".into()));
        assert_eq!(link_env(&all, &query(&[("env", "staging")])), LinkEnv::Known("staging".into()));
        assert_eq!(
            link_env(&all, &query(&[("cluster", "us-east-1")])),
            LinkEnv::Unknown { value: "us-east-1".into(), label: "cluster".into() }
        );
        assert_eq!(
            unknown_env_text("us-east-1", "cluster", &["staging", "prod-eu"]),
            "This link names the environment `us-east-1` (label `cluster`), which this Triage does not serve. Known environments: staging, prod-eu."
        );
    }

    #[test]
    fn banner_text_contrasts_with_its_colour() {
        assert_eq!(colours("#ffd43b").1, "#000000");
        assert_eq!(colours("#c92a2a").1, "#ffffff");
        assert_eq!(colours("red"), ("#444444".to_owned(), "#ffffff"));
        assert_eq!(parse_colour("#0a0B0c"), Some((10, 11, 12)));
        assert!(
            protection_banner(&env("prod-eu", &[])).is_some_and(|t| t.starts_with("prod-eu — production"))
        );
    }
}

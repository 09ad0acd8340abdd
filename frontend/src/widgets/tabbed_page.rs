//! The head of a page with tabs (Kubernetes, Postgres): its title, the picker of what it looks
//! at (namespace, target), the caller's role chip and the sub-tabs, each tab a link to the page's
//! URL with that tab.

use leptos::prelude::*;
use leptos_router::NavigateOptions;

use super::role::ActionUnavailable;

/// A navigation inside a page that keeps the scroll position.
pub fn quiet() -> NavigateOptions {
    NavigateOptions { scroll: false, ..Default::default() }
}

/// A tab of a page, as its URL names it (`tab=`).
pub trait PageTab: Copy + PartialEq + Send + Sync + 'static {
    /// Every tab, in the order of the sub-tabs.
    fn all() -> &'static [Self];
    /// The tab's name in the URL and in its test id.
    fn id(self) -> &'static str;
    fn label(self) -> &'static str;
}

/// What a tabbed page's head shows.
pub struct PageHead<T: PageTab> {
    /// The section's class (`k8s`, `pg`) and test id (`page-kubernetes`).
    pub class: &'static str,
    pub testid: &'static str,
    pub title: &'static str,
    /// The picker's label (`"Namespace "`) and test id.
    pub picker: &'static str,
    pub picker_testid: &'static str,
    /// What is picked (the picker is hidden until there is something) and the choices.
    pub picked: Signal<Option<String>>,
    pub options: Signal<Vec<String>>,
    pub on_pick: Callback<String>,
    pub role_testid: &'static str,
    pub role_text: Signal<String>,
    pub role_title: Signal<String>,
    pub can_act: Signal<bool>,
    /// The sub-tabs' `aria-label` and the prefix of their test ids (`k8s-tab-`).
    pub tabs_label: &'static str,
    pub tab_testid: &'static str,
    pub tab: Signal<T>,
    pub tab_href: Callback<T, String>,
}

/// The page: its head, then `content` (the current tab).
pub fn tabbed_page<T: PageTab>(head: PageHead<T>, content: impl IntoView + 'static) -> impl IntoView {
    let PageHead {
        class,
        testid,
        title,
        picker,
        picker_testid,
        picked,
        options,
        on_pick,
        role_testid,
        role_text,
        role_title,
        can_act,
        tabs_label,
        tab_testid,
        tab,
        tab_href,
    } = head;
    view! {
        <section class=class data-testid=testid>
            <div class="page-head">
                <h1>{title}</h1>
                <label class="ns-picker" style:visibility=move || if picked.get().is_some() { "visible" } else { "hidden" }>
                    {picker}
                    <select
                        data-testid=picker_testid
                        prop:value=move || picked.get().unwrap_or_default()
                        on:change=move |ev| on_pick.run(event_target_value(&ev))
                    >
                        {move || options.get().into_iter().map(|n| view! { <option value=n.clone()>{n.clone()}</option> }).collect_view()}
                    </select>
                </label>
                <span class="spacer"></span>
                <span class="role-chip" class:can-act=move || can_act.get() data-testid=role_testid title=move || role_title.get()>
                    {move || role_text.get()}
                </span>
            </div>
            <ActionUnavailable />
            <nav class="subtabs" role="tablist" aria-label=tabs_label>
                {T::all()
                    .iter()
                    .map(|&t| {
                        view! {
                            <a
                                role="tab"
                                data-noscroll
                                data-testid=format!("{tab_testid}{}", t.id())
                                href=move || tab_href.run(t)
                                class:active=move || tab.get() == t
                                aria-selected=move || (tab.get() == t).to_string()
                            >
                                {t.label()}
                            </a>
                        }
                    })
                    .collect_view()}
            </nav>
            {content}
        </section>
    }
}

//! The Kubernetes page: `kubectl get pods -o wide` / describe / logs / top, deployments with
//! guarded scale and restart, events, services and network policies, one namespace at a time.
//!
//! The URL holds the view (`/kubernetes?ns=…&tab=pods&selector=…&pod=NAME`, see [`location`]),
//! so every view can be linked to. Each view shows its kubectl equivalent. One file per tab.

pub mod deployments;
pub mod events;
pub mod location;
pub mod network_policies;
pub mod pods;
pub mod services;
pub mod status;
pub mod top;

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::api;
use crate::widgets::{
    Empty, ErrorBox, Loading, PageHead, can_act, quiet, role_label, role_text, tabbed_page,
};
use deployments::DeploymentsTab;
use events::EventsTab;
use location::{K8sLocation, Tab};
use network_policies::NetworkPoliciesTab;
use pods::PodsTab;
use services::ServicesTab;
use top::TopTab;

#[component]
pub fn Kubernetes() -> impl IntoView {
    let params = use_query_map();
    let navigate = StoredValue::new_local(use_navigate());
    let namespaces = LocalResource::new(api::k8s::namespaces);
    let whoami = LocalResource::new(api::whoami);

    let location = Memo::new(move |_| {
        let p = params.read();
        K8sLocation::parse(|k| p.get(k))
    });
    let tab = Memo::new(move |_| location.get().tab);
    let selector = Memo::new(move |_| location.get().selector.unwrap_or_default());
    let pod = Memo::new(move |_| location.get().pod);
    let url_ns = Memo::new(move |_| location.get().ns);
    let ns = Memo::new(move |_| {
        url_ns.get().or_else(|| namespaces.get().and_then(Result::ok).and_then(|l| l.into_iter().next()))
    });
    let ns_options = Signal::derive(move || {
        let mut list = namespaces.get().and_then(Result::ok).unwrap_or_default();
        if let Some(n) = url_ns.get().filter(|n| !list.contains(n)) {
            list.push(n);
        }
        list
    });

    let role = Signal::derive(move || whoami.get().and_then(Result::ok).map(|i| i.role));
    let allowed = Signal::derive(move || can_act(role.get()));
    let hint = Signal::derive(move || match whoami.get() {
        None => "Checking your role…".to_owned(),
        Some(Err(e)) => {
            format!("Actions need the operator role; yours could not be checked ({}).", e.message)
        }
        Some(Ok(i)) if can_act(Some(i.role)) => String::new(),
        Some(Ok(i)) => {
            format!("Actions need the operator role; {} is a {}.", i.subject, role_label(Some(i.role)))
        }
    });

    let content = move || {
        let Some(ns) = ns.get() else {
            return match namespaces.get() {
                None => view! { <Loading what="namespaces" /> }.into_any(),
                Some(Err(e)) => view! { <ErrorBox what="the Kubernetes namespaces" message=e.message /> }.into_any(),
                Some(Ok(_)) => view! {
                    <Empty message="No namespace is allowed: list some under [kubernetes] namespaces in Triage's configuration." />
                }
                .into_any(),
            };
        };
        match tab.get() {
            Tab::Pods => view! {
                <PodsTab ns=ns selector=selector.into() pod=pod.into() can_act=allowed act_hint=hint />
            }
            .into_any(),
            Tab::Deployments => view! { <DeploymentsTab ns=ns can_act=allowed act_hint=hint /> }.into_any(),
            Tab::Events => view! { <EventsTab ns=ns /> }.into_any(),
            Tab::Top => view! { <TopTab ns=ns /> }.into_any(),
            Tab::Services => view! { <ServicesTab ns=ns /> }.into_any(),
            Tab::NetworkPolicies => view! { <NetworkPoliciesTab ns=ns /> }.into_any(),
        }
    };

    let head = PageHead {
        class: "k8s",
        testid: "page-kubernetes",
        title: "Kubernetes",
        picker: "Namespace ",
        picker_testid: "k8s-namespace",
        picked: ns.into(),
        options: ns_options,
        on_pick: Callback::new(move |picked: String| {
            let loc = K8sLocation { ns: Some(picked), tab: tab.get_untracked(), ..Default::default() };
            navigate.with_value(|n| n(&loc.href(), quiet()));
        }),
        role_testid: "k8s-role",
        role_text: Signal::derive(move || role_text(whoami.get().as_ref())),
        role_title: Signal::derive(move || {
            if allowed.get() {
                "You may scale, restart and delete (each is dry-run first and audited).".to_owned()
            } else {
                hint.get()
            }
        }),
        can_act: allowed,
        tabs_label: "Kubernetes views",
        tab_testid: "k8s-tab-",
        tab: tab.into(),
        tab_href: Callback::new(move |t| K8sLocation { ns: ns.get(), tab: t, ..Default::default() }.href()),
    };
    tabbed_page(head, content)
}

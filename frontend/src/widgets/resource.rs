//! Resources: a fetch that follows its inputs, its three states on screen, and the usual body
//! of a tab built on them (refresh controls, the view's command line, the data).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use leptos::prelude::*;
use triage_shared::ApiError;

use crate::widgets::kubectl::Kubectl;
use crate::widgets::refresh::RefreshControls;
use crate::widgets::state::{ErrorBox, Loading};

/// A `LocalResource` that fetches again whenever `key` changes, tagged with the key it was
/// fetched for.
///
/// A plain `LocalResource` that reads several signals can miss a change (seen with two of them
/// changing in one event handler, one through a router navigation). Here the fetch reads the key
/// untracked, and an effect compares the key of what arrived with the current one, asking again
/// until they agree.
pub fn keyed_resource<K, T, Fut>(
    key: impl Fn() -> K + Send + Sync + 'static,
    fetch: impl Fn(K) -> Fut + 'static,
) -> LocalResource<(K, T)>
where
    K: Clone + PartialEq + Send + Sync + 'static,
    T: 'static,
    Fut: Future<Output = T> + 'static,
{
    let key = Arc::new(key);
    let key_untracked = Arc::clone(&key);
    let resource = LocalResource::new(move || {
        let k = untrack(|| key_untracked());
        let fut = fetch(k.clone());
        async move { (k, fut.await) }
    });
    Effect::new(move |_| {
        let current = key();
        let differs = resource.map(|(k, _)| *k != current).unwrap_or(false);
        if differs {
            // From a fresh task: a refetch asked for inside this effect while the router is
            // navigating can be dropped.
            set_timeout(move || resource.refetch(), Duration::ZERO);
        }
    });
    resource
}

/// Renders a resource: loading, its error in words, or `ok` with the value.
pub fn resource_view<K: Clone + 'static, T: Clone + Send + Sync + 'static>(
    res: LocalResource<(K, Result<T, ApiError>)>,
    what: &'static str,
    ok: impl Fn(T) -> AnyView + Send + Sync + 'static,
) -> impl IntoView {
    move || match res.get().map(|(_, r)| r) {
        None => view! { <Loading what=what /> }.into_any(),
        Some(Err(e)) => view! { <ErrorBox what=what message=e.message /> }.into_any(),
        Some(Ok(v)) => ok(v),
    }
}

/// The body of a tab that shows one fetched value: refresh controls (auto-refresh on when
/// `auto_refresh`), the view's command line, then `what` loading, its error, or `ok`.
pub fn resource_tab<T, Fut>(
    what: &'static str,
    cmd: String,
    auto_refresh: bool,
    fetch: impl Fn() -> Fut + 'static,
    ok: impl Fn(T) -> AnyView + Send + Sync + 'static,
) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<T, ApiError>> + 'static,
{
    let reload = RwSignal::new(0u32);
    let auto = RwSignal::new(auto_refresh);
    let value = keyed_resource(move || reload.get(), move |_| fetch());
    view! {
        <div class="toolbar"><span class="spacer"></span><RefreshControls reload=reload auto=auto /></div>
        <Kubectl cmd=cmd />
        {resource_view(value, what, ok)}
    }
}

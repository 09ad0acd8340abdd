//! The top tab: `kubectl top` for the nodes and the namespace's pods, as bars against limits,
//! requests and capacity.

use leptos::prelude::*;
use triage_shared::commands::{KUBECTL_TOP_NODES, kubectl_top_pods};
use triage_shared::k8s::{NodeUsage, PodUsage};

use crate::api;
use crate::format::units::{cpu, memory};
use crate::widgets::{
    Bar, Empty, Kubectl, RefreshControls, UsageBar, capacity_bar, keyed_resource, resource_view, usage_bar,
};

/// How the Top tab orders pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TopSort {
    #[default]
    Cpu,
    Memory,
    Name,
}

/// Biggest first for CPU and memory; by name otherwise.
pub fn sort_top(pods: &mut [PodUsage], by: TopSort) {
    match by {
        TopSort::Cpu => pods.sort_by(|a, b| b.cpu_millicores.total_cmp(&a.cpu_millicores)),
        TopSort::Memory => pods.sort_by(|a, b| b.memory_bytes.total_cmp(&a.memory_bytes)),
        TopSort::Name => pods.sort_by(|a, b| a.name.cmp(&b.name)),
    }
}

fn pod_usage_row(p: PodUsage, cpu_scale: f64, mem_scale: f64) -> impl IntoView {
    let cpu_bar = usage_bar(p.cpu_millicores, p.cpu_request_millicores, p.cpu_limit_millicores, cpu_scale);
    let mem_bar = usage_bar(p.memory_bytes, p.memory_request_bytes, p.memory_limit_bytes, mem_scale);
    let opt = |v: Option<f64>, f: fn(f64) -> String| v.map_or_else(|| "none".to_owned(), f);
    let cpu_title = format!(
        "CPU {} · request {} · limit {}",
        cpu(p.cpu_millicores),
        opt(p.cpu_request_millicores, cpu),
        opt(p.cpu_limit_millicores, cpu)
    );
    let mem_title = format!(
        "Memory {} · request {} · limit {}",
        memory(p.memory_bytes),
        opt(p.memory_request_bytes, memory),
        opt(p.memory_limit_bytes, memory)
    );
    let of_limit =
        |b: &Bar| b.of_limit_pct.map_or_else(|| "no limit".to_owned(), |p| format!("{p:.0}% of limit"));
    let (cpu_sub, mem_sub) = (of_limit(&cpu_bar), of_limit(&mem_bar));
    view! {
        <tr
            data-testid="top-pod-row"
            data-pod=p.name.clone()
            data-cpu=format!("{:.0}", p.cpu_millicores)
            data-memory=format!("{:.0}", p.memory_bytes)
        >
            <td class="name">{p.name.clone()}</td>
            <td><UsageBar bar=cpu_bar text=cpu(p.cpu_millicores) sub=cpu_sub title=cpu_title /></td>
            <td><UsageBar bar=mem_bar text=memory(p.memory_bytes) sub=mem_sub title=mem_title /></td>
        </tr>
    }
}

fn node_usage_row(n: NodeUsage) -> impl IntoView {
    let cpu_bar = capacity_bar(n.cpu_millicores, n.cpu_allocatable_millicores);
    let mem_bar = capacity_bar(n.memory_bytes, n.memory_allocatable_bytes);
    let pct = |b: &Bar| b.of_limit_pct.map_or_else(|| "capacity unknown".to_owned(), |p| format!("{p:.0}%"));
    let cpu_text = match n.cpu_allocatable_millicores {
        Some(a) => format!("{} of {}", cpu(n.cpu_millicores), cpu(a)),
        None => cpu(n.cpu_millicores),
    };
    let mem_text = match n.memory_allocatable_bytes {
        Some(a) => format!("{} of {}", memory(n.memory_bytes), memory(a)),
        None => memory(n.memory_bytes),
    };
    let (cpu_sub, mem_sub) = (pct(&cpu_bar), pct(&mem_bar));
    view! {
        <tr data-testid="top-node-row" data-node=n.name.clone()>
            <td class="name">{n.name.clone()}</td>
            <td><UsageBar bar=cpu_bar text=cpu_text.clone() sub=cpu_sub title=format!("CPU {cpu_text} allocatable") /></td>
            <td><UsageBar bar=mem_bar text=mem_text.clone() sub=mem_sub title=format!("Memory {mem_text} allocatable") /></td>
        </tr>
    }
}

#[component]
pub fn TopTab(ns: String) -> impl IntoView {
    let ns_v = StoredValue::new(ns.clone());
    let reload = RwSignal::new(0u32);
    let auto = RwSignal::new(true);
    let sort = RwSignal::new(TopSort::Cpu);
    let pods = keyed_resource(
        move || reload.get(),
        move |_| {
            let ns = ns_v.get_value();
            async move { api::k8s::top_pods(&ns).await }
        },
    );
    let nodes = keyed_resource(move || reload.get(), |_| api::k8s::top_nodes());

    let sort_button = move |by: TopSort, label: &'static str, id: &'static str| {
        view! {
            <button class:active=move || sort.get() == by data-testid=id on:click=move |_| sort.set(by)>{label}</button>
        }
    };

    let arrow = move |label: &'static str, by: TopSort| {
        if sort.get() == by { format!("{label} ▾") } else { label.to_owned() }
    };
    let pod_table = resource_view(pods, "pod usage", move |list| {
        if list.is_empty() {
            return view! { <Empty message="No pod metrics yet (metrics-server reports every 15 s or so)." /> }
                .into_any();
        }
        let cpu_scale = list
            .iter()
            .map(|p| p.cpu_millicores.max(p.cpu_request_millicores.unwrap_or(0.0)))
            .fold(0.0, f64::max);
        let mem_scale = list
            .iter()
            .map(|p| p.memory_bytes.max(p.memory_request_bytes.unwrap_or(0.0)))
            .fold(0.0, f64::max);
        let rows = move || {
            let mut sorted = list.clone();
            sort_top(&mut sorted, sort.get());
            sorted.into_iter().map(|p| pod_usage_row(p, cpu_scale, mem_scale)).collect_view()
        };
        view! {
            <table class="data usage-table" data-testid="top-pods">
                <thead>
                    <tr>
                        <th><button class="link th" title="Sort by name" on:click=move |_| sort.set(TopSort::Name)>{move || arrow("Pod", TopSort::Name)}</button></th>
                        <th><button class="link th" title="Sort by CPU, biggest first" on:click=move |_| sort.set(TopSort::Cpu)>{move || arrow("CPU", TopSort::Cpu)}</button></th>
                        <th><button class="link th" title="Sort by memory, biggest first" on:click=move |_| sort.set(TopSort::Memory)>{move || arrow("Memory", TopSort::Memory)}</button></th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        }
        .into_any()
    });

    let node_table = resource_view(nodes, "node usage", move |mut list| {
        if list.is_empty() {
            return view! { <Empty message="No node metrics yet." /> }.into_any();
        }
        list.sort_by(|a, b| a.name.cmp(&b.name));
        view! {
            <table class="data usage-table" data-testid="top-nodes">
                <thead><tr><th>"Node"</th><th>"CPU (of allocatable)"</th><th>"Memory (of allocatable)"</th></tr></thead>
                <tbody>{list.into_iter().map(node_usage_row).collect_view()}</tbody>
            </table>
        }
        .into_any()
    });

    view! {
        <div class="toolbar">
            <span class="muted small">"Sort pods by"</span>
            <span class="tabs inline">
                {sort_button(TopSort::Cpu, "CPU", "top-sort-cpu")}
                {sort_button(TopSort::Memory, "Memory", "top-sort-memory")}
                {sort_button(TopSort::Name, "Name", "top-sort-name")}
            </span>
            <span class="spacer"></span>
            <RefreshControls reload=reload auto=auto />
        </div>
        <div class="top-grid">
            <section class="panel">
                <h2 class="section-title">"Nodes"</h2>
                <Kubectl cmd=KUBECTL_TOP_NODES.to_owned() />
                <div class="table-wrap">{node_table}</div>
            </section>
            <section class="panel">
                <h2 class="section-title">"Pods"</h2>
                <Kubectl cmd=kubectl_top_pods(&ns) />
                <p class="legend-note small muted">
                    "Each bar is usage against the container's limit; the tick marks its request. "
                    "Green is within the request, amber above it, red at 90% of the limit or more."
                </p>
                <div class="table-wrap">{pod_table}</div>
            </section>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(name: &str, cpu: f64, mem: f64) -> PodUsage {
        PodUsage {
            name: name.to_owned(),
            cpu_millicores: cpu,
            memory_bytes: mem,
            cpu_request_millicores: None,
            cpu_limit_millicores: None,
            memory_request_bytes: None,
            memory_limit_bytes: None,
        }
    }

    #[test]
    fn top_sorting() {
        let mut pods = vec![usage("b", 10.0, 300.0), usage("a", 30.0, 100.0), usage("c", 20.0, 200.0)];
        sort_top(&mut pods, TopSort::Cpu);
        assert_eq!(pods.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["a", "c", "b"]);
        sort_top(&mut pods, TopSort::Memory);
        assert_eq!(pods.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["b", "c", "a"]);
        sort_top(&mut pods, TopSort::Name);
        assert_eq!(pods.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
    }
}

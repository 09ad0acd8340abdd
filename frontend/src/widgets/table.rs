//! A data table in a flush panel that scrolls sideways when it is wider than the page.

use leptos::prelude::*;

/// `<table class="data">` with `testid`, in a `table-wrap panel flush` box; the children are
/// its `<thead>` and `<tbody>`.
#[component]
pub fn DataTable(testid: &'static str, children: Children) -> impl IntoView {
    view! {
        <div class="table-wrap panel flush">
            <table class="data" data-testid=testid>{children()}</table>
        </div>
    }
}

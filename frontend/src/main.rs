//! Entry point: only mounts the app (components live in the library so tests can import them).

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(triage_frontend::App);
}

//! Server-sent-event streams that give their connection back while the page is hidden.
//!
//! A browser speaks HTTP/1.1 to a plain-HTTP Triage with at most six connections per host, for
//! every tab and every cached page together, and each open `EventSource` holds one. A page the
//! browser keeps in its back-forward cache keeps its streams open: the Overview's four charts
//! left behind by a full navigation would leave the next page two connections for everything
//! (and a second cached page none, so its requests would never be sent). So every stream closes
//! on `pagehide` and opens again on `pageshow`, when the page comes back; the backend then sends
//! the latest state at once.

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;

/// A handler of one kind of event of a stream.
pub type Handler = Closure<dyn FnMut(web_sys::Event)>;

struct Open {
    url: String,
    /// `None` while the page is hidden.
    source: Option<web_sys::EventSource>,
    /// `(event name, handler)`; `message` is the unnamed events'.
    handlers: Vec<(&'static str, Handler)>,
    /// The window's `pagehide` and `pageshow` listeners.
    page: Vec<(&'static str, Handler)>,
    /// Closed for good: the page coming back does not open it again.
    closed: bool,
}

fn connect(url: &str, handlers: &[(&'static str, Handler)]) -> Option<web_sys::EventSource> {
    let source = web_sys::EventSource::new(url).ok()?;
    for (name, handler) in handlers {
        let _ = source.add_event_listener_with_callback(name, handler.as_ref().unchecked_ref());
    }
    Some(source)
}

/// One server-sent-event stream, closed when the component that opened it goes.
#[derive(Clone, Copy)]
pub struct EventStream(StoredValue<Option<Open>, LocalStorage>);

impl EventStream {
    /// Opens `url` with `handlers` (`(event name, handler)`); `None` when the browser cannot.
    pub fn open(url: &str, handlers: Vec<(&'static str, Handler)>) -> Option<Self> {
        let source = connect(url, &handlers)?;
        let stream = Self(StoredValue::new_local(None));
        let hide = Closure::<dyn FnMut(web_sys::Event)>::new(move |_ev: web_sys::Event| {
            let _ = stream.0.try_update_value(|open| {
                if let Some(source) = open.as_mut().and_then(|o| o.source.take()) {
                    source.close();
                }
            });
        });
        let show = Closure::<dyn FnMut(web_sys::Event)>::new(move |_ev: web_sys::Event| {
            let _ = stream.0.try_update_value(|open| {
                if let Some(open) = open.as_mut()
                    && open.source.is_none()
                    && !open.closed
                {
                    open.source = connect(&open.url, &open.handlers);
                }
            });
        });
        let page = vec![("pagehide", hide), ("pageshow", show)];
        if let Some(window) = web_sys::window() {
            for (name, handler) in &page {
                let _ = window.add_event_listener_with_callback(name, handler.as_ref().unchecked_ref());
            }
        }
        stream.0.set_value(Some(Open {
            url: url.to_owned(),
            source: Some(source),
            handlers,
            page,
            closed: false,
        }));
        on_cleanup(move || stream.close());
        Some(stream)
    }

    /// Closes the stream for good (it does not come back with the page). Its handlers stay
    /// alive until the component goes, so a handler may call this.
    pub fn close(&self) {
        let _ = self.0.try_update_value(|open| {
            let Some(open) = open.as_mut().filter(|o| !o.closed) else { return };
            open.closed = true;
            if let Some(source) = open.source.take() {
                source.close();
            }
            if let Some(window) = web_sys::window() {
                for (name, handler) in &open.page {
                    let _ =
                        window.remove_event_listener_with_callback(name, handler.as_ref().unchecked_ref());
                }
            }
        });
    }
}

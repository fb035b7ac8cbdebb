//! Progress and warnings from long library work, delivered to an observer the caller
//! passes in (the library never prints). A shell renders them: a progress bar on a
//! terminal, plain lines otherwise, nothing when quiet.

/// Something the library reports while it works.
#[derive(Debug, Clone, PartialEq)]
pub enum Event<'a> {
    /// A stage started, with a one-line description.
    Stage(&'a str),
    /// `done` of `total` units of the named task are finished.
    Progress {
        /// Task name (e.g. `refits`).
        task: &'a str,
        /// Units finished.
        done: usize,
        /// Units in all.
        total: usize,
    },
    /// The input is usable but something about it deserves the user's attention.
    Warning(&'a str),
}

/// Receives [`Event`]s. Implementations must tolerate calls from several threads.
pub trait Observer: Sync {
    /// Handle one event.
    fn event(&self, e: Event<'_>);
}

/// Discards every event.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Observer for Silent {
    fn event(&self, _: Event<'_>) {}
}

/// Collects warnings (for callers that want them back as data, e.g. a server).
#[derive(Debug, Default)]
pub struct Collect {
    warnings: std::sync::Mutex<Vec<String>>,
}

impl Collect {
    /// The warnings received so far.
    pub fn warnings(&self) -> Vec<String> {
        self.warnings
            .lock()
            .map(|w| w.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }
}

impl Observer for Collect {
    fn event(&self, e: Event<'_>) {
        if let Event::Warning(w) = e {
            let mut g = self.warnings.lock().unwrap_or_else(|e| e.into_inner());
            g.push(w.to_string());
        }
    }
}

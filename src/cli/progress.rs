//! Renders library events: a progress bar on a terminal, plain lines otherwise, nothing
//! when quiet.

use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mixcast::observe::{Event, Observer};

/// How progress reaches the user.
pub enum Progress {
    /// Nothing at all (`--quiet`).
    Quiet,
    /// Stage and warning lines on stderr, no bars (not a terminal, or JSON logs).
    Plain,
    /// Lines plus a live bar on a terminal.
    Bar(Mutex<Option<ProgressBar>>),
}

impl Progress {
    /// The right renderer for stderr.
    pub fn new(quiet: bool) -> Progress {
        if quiet {
            Progress::Quiet
        } else if std::io::stderr().is_terminal() {
            Progress::Bar(Mutex::new(None))
        } else {
            Progress::Plain
        }
    }
}

impl Observer for Progress {
    fn event(&self, e: Event<'_>) {
        match (self, e) {
            (Progress::Quiet, _) => {}
            (_, Event::Stage(s)) => eprintln!("{s}"),
            (_, Event::Warning(w)) => eprintln!("warning: {w}"),
            (Progress::Plain, Event::Progress { .. }) => {}
            (Progress::Bar(bar), Event::Progress { task, done, total }) => {
                let mut g = bar.lock().unwrap_or_else(|e| e.into_inner());
                let b = g.get_or_insert_with(|| {
                    let b = ProgressBar::with_draw_target(
                        Some(total as u64),
                        ProgressDrawTarget::stderr(),
                    );
                    let style = format!("  {{bar:40}} {{pos}}/{{len}} {task} ({{elapsed}})");
                    b.set_style(
                        ProgressStyle::with_template(&style)
                            .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    b
                });
                b.set_position(done as u64);
                if done >= total {
                    b.finish_and_clear();
                    *g = None;
                }
            }
        }
    }
}

//! The progress bar of a long `up` or `down`, drawn by indicatif on
//! standard error, only on a terminal (logs and pipes stay quiet), in
//! colour unless NO_COLOR is set (console, under indicatif, honours it).
use std::io::IsTerminal;
use std::sync::OnceLock;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Runs shorter than this many operations get no bar.
const SHORTEST: usize = 50;

/// The bar, made on the first report of a long run.
static BAR: OnceLock<ProgressBar> = OnceLock::new();

/// A progress callback for the engine (finished, total), or `None` when
/// no bar is wanted: JSON output, or standard error not a terminal.
pub fn bar(json: bool) -> Option<Box<dyn Fn(usize, usize) + Send + Sync>> {
    if json || !std::io::stderr().is_terminal() {
        return None;
    }
    Some(Box::new(|done, total| {
        if total < SHORTEST {
            return;
        }
        let pb = BAR.get_or_init(|| {
            let pb =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template("[{bar:40.cyan/blue}] {pos}/{len}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("#>-");
            pb.set_style(style);
            pb
        });
        // A later pass of `up` starts over.
        if pb.is_finished() {
            pb.reset();
        }
        pb.set_length(total as u64);
        pb.set_position(done as u64);
        if done == total {
            // Drawn whatever the refresh rate: the last count is seen.
            pb.finish();
        }
    }))
}

/// Take the bar off the terminal before the summary line.
pub fn clear() {
    if let Some(pb) = BAR.get() {
        pb.finish_and_clear();
    }
}

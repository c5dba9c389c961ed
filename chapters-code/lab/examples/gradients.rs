//! Loss and gradients of an MLP whose weights and batch come from a numpy `.npz`, for checking the
//! book's networks against another framework on exactly the same numbers.
//!
//! ```text
//! cargo run --release -p lab --example gradients -- \
//!     --weights W.npz --activation sigmoid|tanh|relu [--batchnorm] [--residual] [--f64] --save-grads G.npz
//! ```
//!
//! W.npz holds `x` (B, d_in), `y` (B,), `w0..wL` (out, in), `b0..bL` (out,) — layer L is the linear
//! head. G.npz receives `loss`, `gw{i}`, `gb{i}` (and `ggamma{i}`, `gbeta{i}` with `--batchnorm`).
//! Any error (missing or corrupt file, shapes that do not chain, labels out of range, an unknown
//! activation) prints one `error:` line, exits non-zero, and writes nothing. The logic lives in
//! [`lab::npz::run_gradients`], where the tests exercise it.

use clap::Parser;
use lab::npz::{GradientsArgs, run_gradients};

fn main() {
    let args = GradientsArgs::parse();
    chapter_kit::cli::exit_on_error((|| {
        match args.threads {
            Some(n) => chapter_kit::cli::set_threads(n)?,
            None => chapter_kit::cli::pin_thread_count()?,
        }
        run_gradients(&args, &mut std::io::stdout().lock())?;
        Ok(())
    })());
}

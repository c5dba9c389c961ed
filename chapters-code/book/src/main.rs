//! `book`: regenerate the figures, build the site, serve it. The logic lives in the library.

use anyhow::{Result, bail};
use book::figures::Timings;
use book::listings::Rerun;
use clap::{Parser, Subcommand};
use std::net::IpAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(version, about = "Driver of the vanishing-gradient book: figures, build, serve")]
struct Cli {
    /// The book's root (the folder holding book.toml); defaults to this workspace.
    #[arg(long, global = true, value_name = "DIR")]
    root: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run chapter figure generators in-process and write src/figures/<chapter>/*.{svg,json}.
    ///
    /// Only stale chapters run unless --all: a chapter is stale when src/figures/<chapter>/ has no
    /// JSON or its oldest JSON is older than any file of the chapter crate, of lab, of chapter-kit,
    /// or Cargo.lock. Then the listings' outputs are recorded (see `outputs`): those missing, and
    /// with --all also those of chapters recorded before the libraries last changed.
    Figures {
        /// Only this chapter (e.g. ch01); repeat for several.
        #[arg(long, value_name = "CHAPTER")]
        chapter: Vec<String>,
        /// Cheap preview runs (the freshness test's mode): JSON only, marked stale for the next full run.
        #[arg(long)]
        quick: bool,
        /// Run every selected generator, stale or not.
        #[arg(long)]
        all: bool,
        /// Generators run at once, the longest (last time) first. Each computes on cores ÷ jobs of
        /// candle's threads (or RAYON_NUM_THREADS); the figures do not depend on the thread count.
        #[arg(long, value_name = "N", default_value_t = default_jobs())]
        jobs: usize,
    },
    /// Run the chapters' Rust listings and record what they print in src/outputs/ (shown under
    /// each listing in the built book).
    ///
    /// Only listings whose code has no recorded output run, unless --all. Listings compile against
    /// the workspace crates exactly as their doctests do (the first run builds them in the test
    /// configuration). `figures` records outputs too.
    Outputs {
        /// Only this chapter (e.g. ch01, or 01-gradients.md); repeat for several.
        #[arg(long, value_name = "CHAPTER")]
        chapter: Vec<String>,
        /// Run every listing, recorded or not.
        #[arg(long)]
        all: bool,
    },
    /// Render the book (mdBook with the book's six preprocessors) and post-process it.
    Build {
        /// Output folder; defaults to book.toml's build-dir. mdBook empties it first.
        #[arg(long, value_name = "DIR")]
        dest: Option<PathBuf>,
    },
    /// One of the book's mdBook preprocessors, for the stock `mdbook` CLI (book.toml registers each
    /// as a command): reads mdBook's JSON on stdin, writes the processed book on stdout.
    ///
    /// `book build` and `book serve` run the same preprocessors in process.
    Preprocess {
        /// exercises, quizzes, values, math, listings or interactive.
        name: String,
        #[command(subcommand)]
        check: Option<PreprocessCheck>,
    },
    /// Serve the built book on 127.0.0.1, building it first if the sources are newer.
    Serve {
        /// Port to listen on; 0 picks a free one.
        #[arg(long, default_value_t = 3000)]
        port: u16,
        /// Listen on this address instead of 127.0.0.1; a non-loopback address exposes the site to
        /// the network and prints a warning.
        #[arg(long, value_name = "ADDR")]
        bind: Option<IpAddr>,
        /// Serve what is built, without checking whether it is up to date.
        #[arg(long)]
        no_build: bool,
        /// The built site's folder; defaults to book.toml's build-dir.
        #[arg(long, value_name = "DIR")]
        dest: Option<PathBuf>,
        /// Serve the pages only, without the Run button (listings show their recorded output).
        #[arg(long)]
        no_run: bool,
        /// Wall-time limit of one run of a listing, in seconds.
        #[arg(long, value_name = "SECS", default_value_t = 60)]
        run_timeout: u64,
        /// Address-space limit of one run of a listing, in MiB.
        #[arg(long, value_name = "MIB", default_value_t = 4096)]
        run_memory: u64,
    },
}

#[derive(Subcommand)]
enum PreprocessCheck {
    /// Exits with success when the preprocessor works with this mdBook renderer (mdBook asks
    /// before each build).
    Supports { renderer: String },
}

fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    // candle frees and re-allocates the same buffers at every op: keep them rather than fresh pages.
    lab::malloc::keep_freed_memory();
    // Before any thread or tensor exists. The figures do not depend on the thread count (lab cuts
    // its products the same way on any), so `book figures` gives each of its jobs an equal share of
    // the cores: jobs × threads = cores, where 2 jobs × 2 threads spent a third more CPU in the
    // spinning pools. Otherwise pin the default count, so that stock matmuls skip candle's per-call
    // core count (see `chapter_kit::cli::pin_thread_count`).
    match &cli.command {
        Command::Figures { jobs, .. } if std::env::var_os("RAYON_NUM_THREADS").is_none() => {
            chapter_kit::cli::set_threads((default_jobs() / (*jobs).max(1)).max(1))?
        }
        _ => chapter_kit::cli::pin_thread_count()?,
    }
    let root = cli.root.unwrap_or_else(book::workspace_root);
    match cli.command {
        Command::Figures { chapter, quick, all, jobs } => figures(&root, &chapter, quick, all, jobs),
        Command::Build { dest } => {
            let built = build(&root, dest.as_deref())?;
            println!("built {}", built.site.join("index.html").display());
            Ok(())
        }
        Command::Outputs { chapter, all } => outputs(&root, &chapter, if all { Rerun::All } else { Rerun::Missing }),
        Command::Preprocess { name, check } => preprocess(&name, check),
        Command::Serve { port, bind, no_build, dest, no_run, run_timeout, run_memory } => {
            let limits = (!no_run).then(|| run_limits(run_timeout, run_memory));
            serve(&root, port, bind, no_build, dest, limits)
        }
    }
}

fn preprocess(name: &str, check: Option<PreprocessCheck>) -> Result<()> {
    let Some(preprocessor) = book::preprocess::preprocessor(name) else {
        bail!("no preprocessor called `{name}` (the book's are: {})", book::preprocess::PREPROCESSORS.join(", "));
    };
    match check {
        Some(PreprocessCheck::Supports { renderer }) => {
            if preprocessor.supports_renderer(&renderer)? {
                Ok(())
            } else {
                std::process::exit(1)
            }
        }
        None => book::preprocess::preprocess_command(name, std::io::stdin().lock(), &mut std::io::stdout().lock()),
    }
}

fn run_limits(timeout: u64, memory_mib: u64) -> book::listings::runner::RunLimits {
    let mut limits = book::listings::runner::RunLimits::default();
    let cores = default_jobs() as u64;
    limits.run.wall_time = std::time::Duration::from_secs(timeout.max(1));
    limits.run.cpu_seconds = Some(timeout.max(1) * cores + 1);
    limits.run.memory_bytes = Some(memory_mib.max(64) << 20);
    limits
}

/// The cargo workspace of the book at `root` (this workspace when `root` is a book without one).
fn workspace_of(root: &std::path::Path) -> PathBuf {
    if root.join("Cargo.toml").is_file() { root.to_path_buf() } else { book::workspace_root() }
}

/// The runner of listings, over the cargo workspace of the book at `root`.
fn runner(root: &std::path::Path, limits: book::listings::runner::RunLimits) -> Result<book::listings::runner::Runner> {
    let workspace = workspace_of(root);
    book::listings::runner::Runner::new(&workspace, &book::listings::runner::default_scratch_dir(&workspace), limits)
}

fn outputs(root: &std::path::Path, chapters: &[String], rerun: Rerun) -> Result<()> {
    let runner = runner(root, book::listings::runner::RunLimits::default())?;
    let written = book::listings::record_outputs(root, chapters, rerun, &runner, &mut |line| println!("{line}"))?;
    for path in &written {
        println!("wrote {}", path.display());
    }
    if written.is_empty() {
        println!("all recorded outputs are up to date (--all reruns every listing)");
    }
    Ok(())
}

fn figures(root: &std::path::Path, chapters: &[String], quick: bool, all: bool, jobs: usize) -> Result<()> {
    let src_dir = root.join("src");
    let generators = book::all_generators();
    if generators.is_empty() {
        bail!("no figure generators are registered (book::all_generators)");
    }
    let mut selected = book::figures::select(&generators, chapters, all, root, &src_dir)?;
    // The listings' recorded outputs are the other thing the chapters show that code produced.
    let rerun = if all { Rerun::Stale } else { Rerun::Missing };
    if selected.is_empty() {
        println!("all figures are up to date (--all regenerates them anyway)");
        return if quick { Ok(()) } else { outputs(root, chapters, rerun) };
    }
    let timings_path = Timings::path(&workspace_of(root));
    let mut timings = Timings::load(&timings_path);
    book::figures::longest_first(&mut selected, &timings, quick);
    println!("running {} generator(s) on {jobs} thread(s){}", selected.len(), if quick { ", quick" } else { "" });
    let (started, cpu_before) = (std::time::Instant::now(), book::figures::process_cpu_time());
    let outcomes = book::figures::regenerate(&selected, quick, jobs, &src_dir, true);
    println!(
        "generators: {:.1} s, {:.1} s CPU",
        started.elapsed().as_secs_f64(),
        book::figures::process_cpu_time().saturating_sub(cpu_before).as_secs_f64()
    );
    timings.record(&outcomes, quick);
    if let Err(e) = timings.save(&timings_path) {
        eprintln!("warning: could not keep the generators' timings: {e:#}");
    }
    let failed: Vec<_> = outcomes.iter().filter(|o| o.result.is_err()).collect();
    if quick {
        println!("quick figures are previews: run without --quick before committing");
    }
    if !failed.is_empty() {
        let names: Vec<_> = failed.iter().map(|o| format!("{}/{}", o.generator.chapter, o.generator.name)).collect();
        bail!("{} of {} generators failed: {}", failed.len(), outcomes.len(), names.join(", "));
    }
    if !quick {
        outputs(root, chapters, rerun)?;
    }
    Ok(())
}

fn build(root: &std::path::Path, dest: Option<&std::path::Path>) -> Result<book::site::Built> {
    let built = book::site::build(root, dest)?;
    for warning in &built.warnings {
        eprintln!("warning: {warning}");
    }
    Ok(built)
}

fn serve(
    root: &std::path::Path,
    port: u16,
    bind: Option<IpAddr>,
    no_build: bool,
    dest: Option<PathBuf>,
    run_limits: Option<book::listings::runner::RunLimits>,
) -> Result<()> {
    let site = match dest {
        Some(dest) => std::path::absolute(dest)?,
        None => book::site::configured_site_dir(root)?,
    };
    if no_build {
        if !site.join("index.html").exists() {
            bail!("no built book at {} (drop --no-build, or run `book build`)", site.display());
        }
    } else if book::site::needs_build(root, &site)? {
        println!("building the book into {}", site.display());
        build(root, Some(&site))?;
    }
    let (addr, warning) = book::serve::listen_address(port, bind);
    if let Some(warning) = warning {
        eprintln!("{warning}");
    }
    let run = match run_limits.filter(|_| addr.ip().is_loopback()) {
        Some(limits) => Some(book::serve::RunOptions {
            executor: std::sync::Arc::new(runner(root, limits)?),
            max_waiting: 2,
            warm_up: book::listings::first_listing(root),
        }),
        None => None,
    };
    let server = book::serve::start_with(&site, addr, run)?;
    println!("serving {} at {} (Ctrl-C stops)", site.display(), server.url());
    if server.runs_code() {
        println!(
            "the Run button is getting ready: building the workspace crates as `cargo test` does, then a first listing"
        );
        let started = std::time::Instant::now();
        let readiness = loop {
            match server.readiness() {
                Some(book::serve::Readiness::Preparing) => std::thread::sleep(std::time::Duration::from_millis(200)),
                other => break other,
            }
        };
        match readiness {
            Some(book::serve::Readiness::Failed(e)) => eprintln!("the Run button is not ready: {e}"),
            _ => println!("the Run button is ready ({:.1} s)", started.elapsed().as_secs_f64()),
        }
    }
    server.wait();
    Ok(())
}

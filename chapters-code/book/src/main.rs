//! `book`: regenerate the figures, build the site, serve it. The logic lives in the library.

use anyhow::{Result, bail};
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
    /// JSON or its oldest JSON is older than any file of the chapter crate, of lab, or Cargo.lock.
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
        /// Generators run at once (candle's matmuls use threads too; 1 gives each all cores).
        #[arg(long, value_name = "N", default_value_t = default_jobs())]
        jobs: usize,
    },
    /// Render the book (mdBook with the values and math preprocessors) and post-process it.
    Build {
        /// Output folder; defaults to book.toml's build-dir. mdBook empties it first.
        #[arg(long, value_name = "DIR")]
        dest: Option<PathBuf>,
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
    },
}

fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let root = cli.root.unwrap_or_else(book::workspace_root);
    match cli.command {
        Command::Figures { chapter, quick, all, jobs } => figures(&root, &chapter, quick, all, jobs),
        Command::Build { dest } => {
            let built = build(&root, dest.as_deref())?;
            println!("built {}", built.site.join("index.html").display());
            Ok(())
        }
        Command::Serve { port, bind, no_build, dest } => serve(&root, port, bind, no_build, dest),
    }
}

fn figures(root: &std::path::Path, chapters: &[String], quick: bool, all: bool, jobs: usize) -> Result<()> {
    let src_dir = root.join("src");
    let generators = book::all_generators();
    if generators.is_empty() {
        bail!("no figure generators are registered (book::all_generators)");
    }
    let selected = book::figures::select(&generators, chapters, all, root, &src_dir)?;
    if selected.is_empty() {
        println!("all figures are up to date (--all regenerates them anyway)");
        return Ok(());
    }
    println!("running {} generator(s) on {jobs} thread(s){}", selected.len(), if quick { ", quick" } else { "" });
    let outcomes = book::figures::regenerate(&selected, quick, jobs, &src_dir, true);
    let failed: Vec<_> = outcomes.iter().filter(|o| o.result.is_err()).collect();
    if quick {
        println!("quick figures are previews: run without --quick before committing");
    }
    if !failed.is_empty() {
        let names: Vec<_> = failed.iter().map(|o| format!("{}/{}", o.generator.chapter, o.generator.name)).collect();
        bail!("{} of {} generators failed: {}", failed.len(), outcomes.len(), names.join(", "));
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

fn serve(root: &std::path::Path, port: u16, bind: Option<IpAddr>, no_build: bool, dest: Option<PathBuf>) -> Result<()> {
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
    let server = book::serve::start(&site, addr)?;
    println!("serving {} at {} (Ctrl-C stops)", site.display(), server.url());
    server.wait();
    Ok(())
}

//! The machine's f32 matrix-product speed with the `gemm` crate lab and candle use: the "sgemm
//! limit" a training step is compared against (PERFORMANCE.md).
//!
//! ```text
//! cargo run --release -p lab --example sgemm_limit -- --size 2048 --threads 1
//! cargo run --release -p lab --example sgemm_limit -- --m 128 --k 256 --n 256 --threads 2
//! ```
//!
//! Times `C = A·B` (m×k times k×n, row-major, f32) in a loop for about `--seconds` and prints the
//! median GFLOP/s over repetitions. `--threads 1` runs gemm on the calling thread; more threads use
//! gemm's own rayon splitting (`Parallelism::Rayon`), which is what a large product wants. The
//! first lines name the CPU features gemm chooses its kernels by (AVX-512F, else AVX2+FMA on
//! x86-64); the last line is `gflops: <median>`.

use anyhow::{Result, ensure};
use chapter_kit::cli;
use clap::Parser;
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(about = "f32 gemm speed (GFLOP/s) of the gemm crate on this machine")]
struct Args {
    /// m = k = n (overridden by --m, --k, --n).
    #[arg(long, default_value_t = 2048, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    size: usize,
    /// Rows of A and C.
    #[arg(long, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    m: Option<usize>,
    /// Columns of A, rows of B.
    #[arg(long, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    k: Option<usize>,
    /// Columns of B and C.
    #[arg(long, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    n: Option<usize>,
    /// Threads (1: gemm on the calling thread; more: gemm's rayon splitting).
    #[arg(long, default_value_t = 1, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    threads: usize,
    /// Time to spend measuring, after one untimed product.
    #[arg(long, default_value_t = 3.0, value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    seconds: f64,
    /// Operand layouts, as a training step meets them: nn (A·B, both row-major), nt (A·Bᵀ: the forward
    /// x·Wᵀ and the input gradient), tn (Aᵀ·B: the weight gradient gᵀ·x).
    #[arg(long, default_value = "nn", value_parser = ["nn", "nt", "tn", "nt-cm"])]
    layout: String,
}

fn main() {
    cli::exit_on_error(run())
}

fn run() -> Result<()> {
    let args = Args::parse();
    cli::set_threads(args.threads)?;
    let (m, k, n) = (args.m.unwrap_or(args.size), args.k.unwrap_or(args.size), args.n.unwrap_or(args.size));
    ensure!(m.saturating_mul(k).saturating_mul(n) <= 1 << 36, "product too large: {m}×{k}×{n}");
    #[cfg(target_arch = "x86_64")]
    println!(
        "cpu: avx512f {}, avx2 {}, fma {}",
        std::arch::is_x86_feature_detected!("avx512f"),
        std::arch::is_x86_feature_detected!("avx2"),
        std::arch::is_x86_feature_detected!("fma")
    );
    println!("product: {m}x{k} · {k}x{n}, f32, layout {}, threads {}", args.layout, args.threads);
    let a: Vec<f32> = (0..m * k).map(|i| ((i * 7 + 3) % 17) as f32 / 17.0 - 0.5).collect();
    let b: Vec<f32> = (0..k * n).map(|i| ((i * 5 + 1) % 13) as f32 / 13.0 - 0.5).collect();
    // Element (i, p) of A and (p, j) of B, wherever the layout stores them.
    let (a_cs, a_rs) = if args.layout == "tn" { (m as isize, 1) } else { (1, k as isize) };
    let (b_cs, b_rs) = if args.layout.starts_with("nt") { (k as isize, 1) } else { (1, n as isize) };
    let (c_cs, c_rs) = if args.layout == "nt-cm" { (m as isize, 1) } else { (1, n as isize) };
    let at = |i: usize, p: usize| a[(i as isize * a_rs + p as isize * a_cs) as usize];
    let bt = |p: usize, j: usize| b[(p as isize * b_rs + j as isize * b_cs) as usize];
    let mut c = vec![0f32; m * n];
    let parallelism = if args.threads > 1 { gemm::Parallelism::Rayon(args.threads) } else { gemm::Parallelism::None };
    let product = |c: &mut [f32]| {
        // SAFETY: a is m×k, b is k×n and c is m×n, all row-major and live for the call; gemm only
        // writes c (read_dst is false).
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                c.as_mut_ptr(),
                c_cs,
                c_rs,
                false,
                a.as_ptr(),
                a_cs,
                a_rs,
                b.as_ptr(),
                b_cs,
                b_rs,
                0.0f32,
                1.0f32,
                false,
                false,
                false,
                parallelism,
            )
        }
    };
    product(&mut c);
    // A spot check, so that a broken kernel cannot pass for a fast one.
    let (i, j) = (m / 2, n / 3);
    let exact: f64 = (0..k).map(|p| at(i, p) as f64 * bt(p, j) as f64).sum();
    ensure!(
        (c[(i as isize * c_rs + j as isize * c_cs) as usize] as f64 - exact).abs()
            <= 1e-4 * (1.0 + exact.abs()) * (k as f64).sqrt(),
        "wrong product"
    );

    let flop = 2.0 * (m * n * k) as f64;
    let mut rates = Vec::new();
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < args.seconds || rates.len() < 3 {
        // Repeat small products so that one sample lasts ~1 ms or more.
        let reps = (1e7 / flop).ceil().max(1.0) as usize;
        let t = Instant::now();
        for _ in 0..reps {
            product(&mut c);
        }
        rates.push(reps as f64 * flop / t.elapsed().as_secs_f64() / 1e9);
    }
    rates.sort_by(f64::total_cmp);
    println!("samples: {} (GFLOP/s min {:.1}, max {:.1})", rates.len(), rates[0], rates[rates.len() - 1]);
    println!("gflops: {:.1}", rates[rates.len() / 2]);
    Ok(())
}

// TEMPORARY scratch experiments (perf); deleted before hand-off.
use gemm::{Parallelism, gemm};
use std::time::Instant;

fn time<F: FnMut()>(name: &str, iters: usize, flops: f64, mut f: F) {
    for _ in 0..20 { f(); }
    let mut best = f64::MAX;
    let mut tot = 0.0;
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..iters { f(); }
        let e = t.elapsed().as_secs_f64() / iters as f64;
        best = best.min(e);
        tot += e;
    }
    println!("{name:50} best {:8.2} us  mean {:8.2} us  {:6.1} GFLOP/s", best * 1e6, tot / 5.0 * 1e6, flops / best / 1e9);
}

unsafe fn mm(m: usize, n: usize, k: usize, dst: *mut f32, lhs: *const f32, rhs: *const f32, rhs_t: bool, par: Parallelism) {
    let (rcs, rrs) = if rhs_t { (k as isize, 1) } else { (1, n as isize) };
    unsafe { gemm(m, n, k, dst, 1, n as isize, false, lhs, 1, k as isize, rhs, rcs, rrs, 0.0, 1.0, false, false, false, par) }
}

fn main() {
    let threads: usize = std::env::var("T").ok().and_then(|s| s.parse().ok()).unwrap_or(2);
    let (m, n, k) = (128usize, 256usize, 256usize);
    let flops = 2.0 * (m * n * k) as f64;
    let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.1).collect();
    let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.1).collect();
    let mut c = vec![0f32; m * n];
    let it = 200;
    time("1 thread, rhs row-major", it, flops, || unsafe { mm(m, n, k, c.as_mut_ptr(), a.as_ptr(), b.as_ptr(), false, Parallelism::None) });
    time("1 thread, rhs transposed (x W^T)", it, flops, || unsafe { mm(m, n, k, c.as_mut_ptr(), a.as_ptr(), b.as_ptr(), true, Parallelism::None) });
    time("Rayon(T) from main thread, row-major", it, flops, || unsafe { mm(m, n, k, c.as_mut_ptr(), a.as_ptr(), b.as_ptr(), false, Parallelism::Rayon(threads)) });
    time("Rayon(T) from main thread, transposed", it, flops, || unsafe { mm(m, n, k, c.as_mut_ptr(), a.as_ptr(), b.as_ptr(), true, Parallelism::Rayon(threads)) });
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| {
        time("Rayon(T) inside pool.install, row-major", it, flops, || unsafe { mm(m, n, k, c.as_mut_ptr(), a.as_ptr(), b.as_ptr(), false, Parallelism::Rayon(threads)) });
        time("Rayon(T) inside pool.install, transposed", it, flops, || unsafe { mm(m, n, k, c.as_mut_ptr(), a.as_ptr(), b.as_ptr(), true, Parallelism::Rayon(threads)) });
        let cp = c.as_mut_ptr() as usize;
        time("join of 2 col halves, None each, transposed", it, flops, || {
            let h = n / 2;
            rayon::join(
                || unsafe { gemm(m, h, k, cp as *mut f32, 1, n as isize, false, a.as_ptr(), 1, k as isize, b.as_ptr(), k as isize, 1, 0.0, 1.0, false, false, false, Parallelism::None) },
                || unsafe { gemm(m, h, k, (cp as *mut f32).add(h), 1, n as isize, false, a.as_ptr(), 1, k as isize, b.as_ptr().add(h * k), k as isize, 1, 0.0, 1.0, false, false, false, Parallelism::None) },
            );
        });
        time("join of 2 row halves, None each, transposed", it, flops, || {
            let h = m / 2;
            rayon::join(
                || unsafe { gemm(h, n, k, cp as *mut f32, 1, n as isize, false, a.as_ptr(), 1, k as isize, b.as_ptr(), k as isize, 1, 0.0, 1.0, false, false, false, Parallelism::None) },
                || unsafe { gemm(h, n, k, (cp as *mut f32).add(h * n), 1, n as isize, false, a.as_ptr().add(h * k), 1, k as isize, b.as_ptr(), k as isize, 1, 0.0, 1.0, false, false, false, Parallelism::None) },
            );
        });
        let mut c2 = vec![0f32; m * n];
        let c2p = c2.as_mut_ptr() as usize;
        time("join of 2 independent full gemms (per gemm)", it, 2.0 * flops, || {
            rayon::join(
                || unsafe { mm(m, n, k, cp as *mut f32, a.as_ptr(), b.as_ptr(), true, Parallelism::None) },
                || unsafe { mm(m, n, k, c2p as *mut f32, a.as_ptr(), b.as_ptr(), false, Parallelism::None) },
            );
        });
    });
    // big
    let (m, n, k) = (1024usize, 1024usize, 1024usize);
    let a: Vec<f32> = vec![0.1; m * k];
    let b: Vec<f32> = vec![0.2; k * n];
    let mut c = vec![0f32; m * n];
    time("1024^3 Rayon(T) main", 5, 2.0 * (m * n * k) as f64, || unsafe { mm(m, n, k, c.as_mut_ptr(), a.as_ptr(), b.as_ptr(), false, Parallelism::Rayon(threads)) });
    time("1024^3 None", 3, 2.0 * (m * n * k) as f64, || unsafe { mm(m, n, k, c.as_mut_ptr(), a.as_ptr(), b.as_ptr(), false, Parallelism::None) });
}

// TEMPORARY scratch experiments (perf); deleted before hand-off.
use gemm::{Parallelism, gemm};

// dst (m×n row-major) = a (m×k, strides ars, acs) · b (k×n, strides brs, bcs)
#[allow(clippy::too_many_arguments)]
unsafe fn mm(m: usize, n: usize, k: usize, dst: *mut f32, a: *const f32, ars: isize, acs: isize, b: *const f32, brs: isize, bcs: isize) {
    unsafe { gemm(m, n, k, dst, 1, n as isize, false, a, acs, ars, b, bcs, brs, 0.0, 1.0, false, false, false, Parallelism::None) }
}

fn main() {
    let v = std::env::var("V").unwrap();
    let iters: usize = std::env::var("N").ok().and_then(|s| s.parse().ok()).unwrap_or(100);
    let (m, k, n) = (128usize, 256usize, 256usize);
    let x: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.1).collect(); // m×k row-major
    let w: Vec<f32> = (0..n * k).map(|i| (i % 5) as f32 * 0.1).collect(); // n×k (out,in) row-major, or k×n
    let g: Vec<f32> = (0..m * n).map(|i| (i % 3) as f32 * 0.1).collect(); // m×n
    let mut c = vec![0f32; m * n.max(k)];
    let mut cw = vec![0f32; n * k];
    let t = std::time::Instant::now();
    for _ in 0..iters {
        unsafe {
            match v.as_str() {
                // forward with W stored (out,in): x · Wᵀ
                "fwd_out_in" => mm(m, n, k, c.as_mut_ptr(), x.as_ptr(), k as isize, 1, w.as_ptr(), 1, k as isize),
                // forward with W stored (in,out): x · W'
                "fwd_in_out" => mm(m, n, k, c.as_mut_ptr(), x.as_ptr(), k as isize, 1, w.as_ptr(), n as isize, 1),
                // dx = g · W, W (out,in) = (n,k) row-major
                "dx_out_in" => mm(m, k, n, c.as_mut_ptr(), g.as_ptr(), n as isize, 1, w.as_ptr(), k as isize, 1),
                // dx = g · W'ᵀ, W' (in,out) = (k,n)
                "dx_in_out" => mm(m, k, n, c.as_mut_ptr(), g.as_ptr(), n as isize, 1, w.as_ptr(), 1, n as isize),
                // dW (n,k) = gᵀ x
                "dw_out_in" => mm(n, k, m, cw.as_mut_ptr(), g.as_ptr(), 1, n as isize, x.as_ptr(), k as isize, 1),
                // dW' (k,n) = xᵀ g
                "dw_in_out" => mm(k, n, m, cw.as_mut_ptr(), x.as_ptr(), 1, k as isize, g.as_ptr(), n as isize, 1),
                _ => panic!("variant"),
            }
        }
    }
    let e = t.elapsed().as_secs_f64() / iters as f64;
    println!("{v:12} {:8.1} us  {:6.1} GFLOP/s", e * 1e6, 2.0 * (m * n * k) as f64 / e / 1e9);
}

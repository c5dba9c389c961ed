// TEMPORARY scratch experiments (perf); deleted before hand-off.
use gemm::{Parallelism, gemm};
use std::time::Instant;

fn time<F: FnMut()>(name: &str, iters: usize, flops: f64, mut f: F) {
    for _ in 0..50 { f(); }
    let mut v = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        for _ in 0..iters { f(); }
        v.push(t.elapsed().as_secs_f64() / iters as f64);
    }
    v.sort_by(f64::total_cmp);
    println!("{name:52} median {:8.2} us  {:6.1} GFLOP/s (best {:6.1})", v[3] * 1e6, flops / v[3] / 1e9, flops / v[0] / 1e9);
}

unsafe fn mm(m: usize, n: usize, k: usize, dst: *mut f32, lhs: *const f32, rhs: *const f32, par: Parallelism) {
    unsafe { gemm(m, n, k, dst, 1, n as isize, false, lhs, 1, k as isize, rhs, k as isize, 1, 0.0, 1.0, false, false, false, par) }
}

fn main() {
    let threads = 2;
    if std::env::var_os("STD").is_some() {
        let (m, n, k) = (128usize, 256usize, 256usize);
        let a: Vec<f32> = vec![0.1; m * k];
        let b: Vec<f32> = vec![0.2; k * n];
        let run = |label: &str| {
            let mut c = vec![0f32; m * n];
            let t = Instant::now();
            for _ in 0..3000 { unsafe { mm(m, n, k, c.as_mut_ptr(), a.as_ptr(), b.as_ptr(), Parallelism::None) } }
            println!("{label} {:.1} us/gemm", t.elapsed().as_secs_f64() / 3000.0 * 1e6);
        };
        run("alone");
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        pool.install(|| {
            let t = Instant::now();
            rayon::join(|| run("join A"), || { println!("B on {:?}", rayon::current_thread_index()); run("join B") });
            println!("join total {:.3} s", t.elapsed().as_secs_f64());
            let t = Instant::now();
            for _ in 0..1000 {
                rayon::join(|| unsafe { let mut c = vec![0f32; m * n]; mm(m, n, k, c.as_mut_ptr(), a.as_ptr(), b.as_ptr(), Parallelism::None) },
                            || unsafe { let mut c = vec![0f32; m * n]; mm(m, n, k, c.as_mut_ptr(), a.as_ptr(), b.as_ptr(), Parallelism::None) });
            }
            println!("1000 joins of 2 gemms: {:.1} us per join", t.elapsed().as_secs_f64() / 1000.0 * 1e6);
        });
        std::thread::scope(|s| { s.spawn(|| run("thread A")); s.spawn(|| run("thread B")); });
        return;
    }
    let sizes: Vec<usize> = std::env::var("SZ").ok().map(|s| s.split(',').map(|x| x.parse().unwrap()).collect()).unwrap_or(vec![128, 256, 256]);
    let (m, n, k) = (sizes[0], sizes[1], sizes[2]);
    let flops = 2.0 * (m * n * k) as f64;
    let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.1).collect();
    let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.1).collect();
    let mut c = vec![0f32; m * n];
    let it = (2e9 / flops) as usize + 1;
    let cp = c.as_mut_ptr() as usize;
    time("None", it, flops, || unsafe { mm(m, n, k, cp as *mut f32, a.as_ptr(), b.as_ptr(), Parallelism::None) });
    time("Rayon(2), caller outside the pool", it, flops, || unsafe { mm(m, n, k, cp as *mut f32, a.as_ptr(), b.as_ptr(), Parallelism::Rayon(threads)) });
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| {
        time("Rayon(2), inside pool.install", it, flops, || unsafe { mm(m, n, k, cp as *mut f32, a.as_ptr(), b.as_ptr(), Parallelism::Rayon(threads)) });
        let mut c2 = vec![0f32; m * n];
        let c2p = c2.as_mut_ptr() as usize;
        time("join of 2 independent None gemms (flops of 2)", it, 2.0 * flops, || {
            rayon::join(
                || unsafe { mm(m, n, k, cp as *mut f32, a.as_ptr(), b.as_ptr(), Parallelism::None) },
                || unsafe { mm(m, n, k, c2p as *mut f32, a.as_ptr(), b.as_ptr(), Parallelism::None) },
            );
        });
        for gap_us in [0u64, 5, 20, 50, 100, 200] {
            let mut tot = 0.0;
            let reps = 300;
            for _ in 0..reps {
                let t0 = Instant::now();
                while t0.elapsed().as_micros() < gap_us as u128 { std::hint::spin_loop(); }
                let t = Instant::now();
                let h = n / 2;
                rayon::join(
                    || unsafe { gemm(m, h, k, cp as *mut f32, 1, n as isize, false, a.as_ptr(), 1, k as isize, b.as_ptr(), k as isize, 1, 0.0, 1.0, false, false, false, Parallelism::None) },
                    || unsafe { gemm(m, h, k, (cp as *mut f32).add(h), 1, n as isize, false, a.as_ptr(), 1, k as isize, b.as_ptr().add(h * k), k as isize, 1, 0.0, 1.0, false, false, false, Parallelism::None) },
                );
                tot += t.elapsed().as_secs_f64();
            }
            println!("col halves after {gap_us:3} us of serial work: {:.1} us", tot / reps as f64 * 1e6);
        }
        time("join of 2 col halves (None each)", it, flops, || {
            let h = n / 2;
            rayon::join(
                || unsafe { gemm(m, h, k, cp as *mut f32, 1, n as isize, false, a.as_ptr(), 1, k as isize, b.as_ptr(), k as isize, 1, 0.0, 1.0, false, false, false, Parallelism::None) },
                || unsafe { gemm(m, h, k, (cp as *mut f32).add(h), 1, n as isize, false, a.as_ptr(), 1, k as isize, b.as_ptr().add(h * k), k as isize, 1, 0.0, 1.0, false, false, false, Parallelism::None) },
            );
        });
    });
}

#[allow(dead_code)]
fn threads_test() {}

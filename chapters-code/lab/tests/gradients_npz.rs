//! The `gradients` example's code path (`lab::npz`), end to end: weights written to an `.npz`, loss
//! and gradients computed by `lab::net`, checked against central finite differences of an independent
//! f64 implementation of the same network (Linear → [BatchNorm] → activation, residual where widths
//! agree, mean softmax cross-entropy); and every bad input refused with a clear error and no output.

use anyhow::Result;
use clap::Parser;
use lab::npz::{
    Array, GradientOptions, GradientReport, GradientsArgs, gradients_for, read_npz, run_gradients, write_npz,
};
use lab::{Activation, Init, init};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lab-gradients-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A small problem: 5 → 4 → 4 → 3, batch 6 (stored as f32, so the f32 and f64 runs see the same values).
struct Problem {
    sizes: Vec<usize>,
    batch: usize,
    x: Vec<f64>,
    y: Vec<u32>,
    ws: Vec<Vec<f64>>,
    bs: Vec<Vec<f64>>,
}

fn problem(seed: u64) -> Problem {
    let sizes = vec![5, 4, 4, 3];
    let batch = 6;
    let mut rng = init::rng(seed);
    let to64 = |v: Vec<f32>| v.into_iter().map(f64::from).collect::<Vec<f64>>();
    let x = to64(Init::Normal { std: 1.0 }.sample(batch, sizes[0], &mut rng));
    let ws = sizes.windows(2).map(|p| to64(Init::XavierNormal { gain: 1.5 }.sample(p[1], p[0], &mut rng))).collect();
    let bs = sizes[1..].iter().map(|&n| to64(Init::Normal { std: 0.3 }.sample(n, 1, &mut rng))).collect();
    Problem { sizes, batch, x, y: vec![0, 2, 1, 1, 0, 2], ws, bs }
}

fn write_problem(p: &Problem, path: &Path) -> Result<()> {
    let f32s = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
    let mut arrays = vec![
        ("x".to_string(), Array::f32(vec![p.batch, p.sizes[0]], f32s(&p.x))?),
        ("y".to_string(), Array::i64(vec![p.batch], p.y.iter().map(|&l| l as i64).collect())?),
    ];
    for (i, (w, b)) in p.ws.iter().zip(&p.bs).enumerate() {
        arrays.push((format!("w{i}"), Array::f32(vec![p.sizes[i + 1], p.sizes[i]], f32s(w))?));
        arrays.push((format!("b{i}"), Array::f32(vec![p.sizes[i + 1]], f32s(b))?));
    }
    write_npz(path, arrays)
}

/// Parameters of the reference network: per layer w, b, and (hidden layers, BatchNorm) γ, β.
#[derive(Clone)]
struct Params {
    ws: Vec<Vec<f64>>,
    bs: Vec<Vec<f64>>,
    gammas: Vec<Vec<f64>>,
    betas: Vec<Vec<f64>>,
}

fn act(name: &str, z: f64) -> f64 {
    match name {
        "sigmoid" => 1.0 / (1.0 + (-z).exp()),
        "tanh" => z.tanh(),
        "relu" => z.max(0.0),
        _ => unreachable!(),
    }
}

/// The reference forward pass and loss, in plain f64, written from the module docs' definition.
fn reference_loss(p: &Problem, q: &Params, activation: &str, batchnorm: bool, residual: bool) -> f64 {
    let b = p.batch;
    let mut h: Vec<Vec<f64>> = (0..b).map(|i| p.x[i * p.sizes[0]..(i + 1) * p.sizes[0]].to_vec()).collect();
    let layers = p.sizes.len() - 1;
    for l in 0..layers {
        let (n_in, n_out) = (p.sizes[l], p.sizes[l + 1]);
        let mut z: Vec<Vec<f64>> = h
            .iter()
            .map(|hi| {
                (0..n_out).map(|o| q.bs[l][o] + (0..n_in).map(|k| q.ws[l][o * n_in + k] * hi[k]).sum::<f64>()).collect()
            })
            .collect();
        if l + 1 == layers {
            h = z;
            break;
        }
        if batchnorm {
            for o in 0..n_out {
                let mean = z.iter().map(|r| r[o]).sum::<f64>() / b as f64;
                let var = z.iter().map(|r| (r[o] - mean).powi(2)).sum::<f64>() / b as f64;
                for r in z.iter_mut() {
                    r[o] = (r[o] - mean) / (var + 1e-5).sqrt() * q.gammas[l][o] + q.betas[l][o];
                }
            }
        }
        h = z
            .iter()
            .zip(&h)
            .map(|(zi, hi)| {
                let a: Vec<f64> = zi.iter().map(|&v| act(activation, v)).collect();
                if residual && n_in == n_out { a.iter().zip(hi).map(|(x, y)| x + y).collect() } else { a }
            })
            .collect();
    }
    h.iter()
        .zip(&p.y)
        .map(|(logits, &label)| {
            let m = logits.iter().cloned().fold(f64::MIN, f64::max);
            let lse = m + logits.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
            lse - logits[label as usize]
        })
        .sum::<f64>()
        / b as f64
}

fn flat(t: &candle_core::Tensor) -> Vec<f64> {
    t.flatten_all().unwrap().to_dtype(candle_core::DType::F64).unwrap().to_vec1::<f64>().unwrap()
}

/// Checks every gradient of `report` against central finite differences of the reference. Returns the
/// largest error relative to max(|fd|, |grad|, floor).
fn check_against_finite_differences(p: &Problem, report: &GradientReport, activation: &str, tol: f64) -> f64 {
    let (bn, res) = (report.options.batchnorm, report.options.residual);
    let hidden = p.sizes.len() - 2;
    let base = Params {
        ws: p.ws.iter().map(|w| w.iter().map(|&v| v as f32 as f64).collect()).collect(),
        bs: p.bs.iter().map(|b| b.iter().map(|&v| v as f32 as f64).collect()).collect(),
        gammas: (0..hidden).map(|l| vec![1.0; p.sizes[l + 1]]).collect(),
        betas: (0..hidden).map(|l| vec![0.0; p.sizes[l + 1]]).collect(),
    };
    let p32 = Problem { x: p.x.iter().map(|&v| v as f32 as f64).collect(), ..clone_problem(p) };
    let loss = reference_loss(&p32, &base, activation, bn, res);
    assert!((loss - report.loss).abs() < 1e-5 * loss.abs().max(1.0), "loss: reference {loss} vs lab {}", report.loss);

    let h = 1e-6;
    let mut worst: f64 = 0.0;
    type Slot = fn(&mut Params) -> &mut Vec<Vec<f64>>;
    let groups: Vec<(&str, Slot, &Vec<candle_core::Tensor>)> = {
        let mut g: Vec<(&str, Slot, &Vec<candle_core::Tensor>)> =
            vec![("gw", |q| &mut q.ws, &report.grad_w), ("gb", |q| &mut q.bs, &report.grad_b)];
        if bn {
            g.push(("ggamma", |q| &mut q.gammas, &report.grad_gamma));
            g.push(("gbeta", |q| &mut q.betas, &report.grad_beta));
        }
        g
    };
    // Finite differences of every parameter, then one scale for the whole network.
    let mut checks = Vec::new();
    for (name, slot, grads) in groups {
        let n_layers = slot(&mut base.clone()).len();
        assert_eq!(grads.len(), n_layers, "{name}: one gradient per layer");
        for (l, grad) in grads.iter().enumerate() {
            let g = flat(grad);
            let fds: Vec<f64> = (0..g.len())
                .map(|k| {
                    let (mut plus, mut minus) = (base.clone(), base.clone());
                    slot(&mut plus)[l][k] += h;
                    slot(&mut minus)[l][k] -= h;
                    (reference_loss(&p32, &plus, activation, bn, res)
                        - reference_loss(&p32, &minus, activation, bn, res))
                        / (2.0 * h)
                })
                .collect();
            checks.push((format!("{name}{l}"), g, fds));
        }
    }
    let scale = checks.iter().flat_map(|(_, _, fds)| fds.iter().map(|v| v.abs())).fold(0.0, f64::max);
    assert!(scale > 1e-3, "the problem has non-trivial gradients");
    // Errors are relative to max(|grad|, |fd|, 1e-3 · the largest gradient): the floor keeps entries that
    // are zero in exact arithmetic (the bias before a BatchNorm, dead ReLUs) from dividing by rounding noise.
    let floor = 1e-3 * scale;
    for (name, g, fds) in &checks {
        for (k, (a, fd)) in g.iter().zip(fds).enumerate() {
            let err = (a - fd).abs() / a.abs().max(fd.abs()).max(floor);
            worst = worst.max(err);
            assert!(
                err < tol,
                "{activation} bn={bn} res={res}: {name}[{k}] lab {a:e} vs finite difference {fd:e} (rel {err:e})"
            );
        }
    }
    worst
}

fn clone_problem(p: &Problem) -> Problem {
    Problem {
        sizes: p.sizes.clone(),
        batch: p.batch,
        x: p.x.clone(),
        y: p.y.clone(),
        ws: p.ws.clone(),
        bs: p.bs.clone(),
    }
}

#[test]
fn gradients_match_finite_differences() -> Result<()> {
    let dir = temp_dir("fd");
    let p = problem(3);
    let path = dir.join("W.npz");
    write_problem(&p, &path)?;
    for (name, batchnorm, residual) in
        [("sigmoid", false, false), ("tanh", true, false), ("relu", false, true), ("tanh", true, true)]
    {
        let activation: Activation = name.parse()?;
        for f64 in [false, true] {
            let opts = GradientOptions { activation, batchnorm, residual, f64 };
            let report = gradients_for(&path, &opts)?;
            // f32 autograd is good to ~1e-5 relative here (BatchNorm amplifies rounding); f64 to the
            // finite differences' own accuracy.
            let tol = if f64 { 1e-6 } else { 3e-4 };
            let worst = check_against_finite_differences(&p, &report, name, tol);
            println!(
                "{name} batchnorm={batchnorm} residual={residual} f64={f64}: loss {:.6}, worst relative error {worst:.2e}",
                report.loss
            );
            assert_eq!(report.grad_w.len(), 3);
            assert_eq!(report.grad_gamma.len(), if batchnorm { 2 } else { 0 });
        }
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn saved_gradients_round_trip() -> Result<()> {
    let dir = temp_dir("save");
    let (w, g) = (dir.join("W.npz"), dir.join("G.npz"));
    write_problem(&problem(4), &w)?;
    let args = GradientsArgs::try_parse_from([
        "gradients",
        "--weights",
        w.to_str().unwrap(),
        "--activation",
        "tanh",
        "--batchnorm",
        "--save-grads",
        g.to_str().unwrap(),
    ])?;
    let mut out = Vec::new();
    let report = run_gradients(&args, &mut out)?;
    let printed = String::from_utf8(out)?;
    assert!(
        printed.starts_with(&format!(
            "loss {:.8} (batch 6, 3 classes; 3 layers 5→4→4→3; tanh, batchnorm; f32)",
            report.loss
        )),
        "{printed}"
    );
    assert!(printed.contains("2 head") && printed.contains("wrote "), "{printed}");
    let saved = read_npz(&g)?;
    let mut names: Vec<&str> = saved.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(names, ["gb0", "gb1", "gb2", "gbeta0", "gbeta1", "ggamma0", "ggamma1", "gw0", "gw1", "gw2", "loss"]);
    assert_eq!(saved["loss"], Array::scalar(report.loss));
    for (i, (gw, gb)) in report.grad_w.iter().zip(&report.grad_b).enumerate() {
        assert_eq!(saved[&format!("gw{i}")], Array::from_tensor(gw)?);
        assert_eq!(saved[&format!("gb{i}")], Array::from_tensor(gb)?);
        assert_eq!(saved[&format!("gw{i}")].dtype_name(), "float32");
    }
    assert_eq!(saved["gw1"].shape(), &[4, 4]);
    // The norms the example prints are those of the saved arrays.
    let norms = report.norms()?;
    let gw0: f64 = saved["gw0"].to_f64_vec().iter().map(|v| v * v).sum::<f64>().sqrt();
    assert!((norms[0].0 - gw0).abs() < 1e-9);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn other_dtypes_are_accepted() -> Result<()> {
    // x as float64 and y as int32, written with npyz directly (what np.savez writes for such arrays).
    use npyz::WriterBuilder;
    use npyz::npz::NpzWriter;
    let dir = temp_dir("dtypes");
    let (reference, other) = (dir.join("ref.npz"), dir.join("other.npz"));
    let p = problem(5);
    write_problem(&p, &reference)?;
    let arrays = read_npz(&reference)?;
    {
        let mut npz = NpzWriter::create(&other)?;
        let x64: Vec<f64> = arrays["x"].to_f64_vec();
        let mut w = npz.array::<f64>("x", Default::default())?.default_dtype().shape(&[6, 5]).begin_nd()?;
        w.extend(x64)?;
        w.finish()?;
        let mut w = npz.array::<i32>("y", Default::default())?.default_dtype().shape(&[6]).begin_nd()?;
        w.extend(p.y.iter().map(|&l| l as i32))?;
        w.finish()?;
        for (name, a) in arrays.iter().filter(|(k, _)| k.starts_with('w') || k.starts_with('b')) {
            let shape: Vec<u64> = a.shape().iter().map(|&d| d as u64).collect();
            let Array::F32 { data, .. } = a else { unreachable!() };
            let mut w = npz.array::<f32>(name, Default::default())?.default_dtype().shape(&shape).begin_nd()?;
            w.extend(data.iter().copied())?;
            w.finish()?;
        }
        npz.zip_writer().finish()?;
    }
    let opts = GradientOptions::new(Activation::Sigmoid);
    let (a, b) = (gradients_for(&reference, &opts)?, gradients_for(&other, &opts)?);
    assert_eq!(a.loss, b.loss);
    assert_eq!(flat(&a.grad_w[0]), flat(&b.grad_w[0]));
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// Writes `W.npz` with one array replaced (or removed, with `None`), runs the example's code path with
/// `--save-grads`, and returns the error message; checks that no gradient file appeared.
fn error_with(dir: &Path, tag: &str, edit: impl FnOnce(&mut BTreeMap<String, Array>)) -> String {
    let (w, g) = (dir.join(format!("{tag}.npz")), dir.join(format!("{tag}-grads.npz")));
    write_problem(&problem(6), &w).unwrap();
    let mut arrays = read_npz(&w).unwrap();
    edit(&mut arrays);
    write_npz(&w, &arrays).unwrap();
    run_error(&w, &g, &[])
}

fn run_error(w: &Path, g: &Path, extra: &[&str]) -> String {
    let mut argv = vec![
        "gradients",
        "--weights",
        w.to_str().unwrap(),
        "--activation",
        "relu",
        "--save-grads",
        g.to_str().unwrap(),
    ];
    argv.extend_from_slice(extra);
    let args = GradientsArgs::try_parse_from(argv).unwrap();
    let err = run_gradients(&args, &mut Vec::new()).expect_err("bad input must be refused");
    assert!(!g.exists(), "no gradient file may be written on error");
    let line = chapter_kit::cli::one_line(&err);
    assert!(!line.contains('\n'));
    line
}

#[test]
fn bad_weights_are_refused_with_clear_errors_and_no_output() {
    let dir = temp_dir("errors");
    let f32a = |shape: Vec<usize>| {
        let n = shape.iter().product();
        Array::f32(shape, vec![0.1; n]).unwrap()
    };
    type Edit = Box<dyn FnOnce(&mut BTreeMap<String, Array>)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "w1cols",
            Box::new(move |a| {
                a.insert("w1".into(), f32a(vec![4, 3]));
            }),
            "`w1` has shape [4, 3], but `w0` has 4 outputs: expected (4, 4)",
        ),
        (
            "w0cols",
            Box::new(move |a| {
                a.insert("w0".into(), f32a(vec![4, 6]));
            }),
            "`w0` has shape [4, 6], but `x` has 5 features: expected (4, 5)",
        ),
        (
            "b1len",
            Box::new(move |a| {
                a.insert("b1".into(), f32a(vec![5]));
            }),
            "`b1` has shape [5], expected [4] (one bias per row of `w1`)",
        ),
        (
            "ylabel",
            Box::new(|a| {
                a.insert("y".into(), Array::i64(vec![6], vec![0, 1, 3, 0, 1, 2]).unwrap());
            }),
            "y[2] = 3, but the head `w2` has 3 outputs: labels must be in [0, 3)",
        ),
        (
            "yneg",
            Box::new(|a| {
                a.insert("y".into(), Array::i64(vec![6], vec![0, 1, -1, 0, 1, 2]).unwrap());
            }),
            "y[2] = -1",
        ),
        (
            "ylen",
            Box::new(|a| {
                a.insert("y".into(), Array::i64(vec![5], vec![0; 5]).unwrap());
            }),
            "`y` has 5 labels but `x` has 6 rows",
        ),
        (
            "yfloat",
            Box::new(|a| {
                a.insert("y".into(), Array::f32(vec![6], vec![0.0; 6]).unwrap());
            }),
            "`y` has dtype float32; expected integer class labels",
        ),
        (
            "xint",
            Box::new(|a| {
                a.insert("x".into(), Array::i64(vec![6, 5], vec![0; 30]).unwrap());
            }),
            "`x` has an integer dtype",
        ),
        (
            "x1d",
            Box::new(move |a| {
                a.insert("x".into(), f32a(vec![30]));
            }),
            "`x` must be 2-D (batch, d_in), got shape [30]",
        ),
        (
            "nan",
            Box::new(|a| {
                let mut v = vec![0.1f32; 20];
                v[7] = f32::NAN;
                a.insert("w0".into(), Array::f32(vec![4, 5], v).unwrap());
            }),
            "`w0` contains a non-finite value (NaN) at flat index 7",
        ),
        (
            "nob1",
            Box::new(|a| {
                a.remove("b1");
            }),
            "missing array `b1` (the file has: b0, b2, w0, w1, w2, x, y)",
        ),
        (
            "nox",
            Box::new(|a| {
                a.remove("x");
            }),
            "missing array `x`",
        ),
        (
            "gap",
            Box::new(|a| {
                a.remove("w1");
                a.remove("b1");
            }),
            "missing array `w1` (found w2: layers must be numbered w0, w1, … without gaps)",
        ),
        (
            "strayb",
            Box::new(move |a| {
                a.insert("b3".into(), f32a(vec![3]));
            }),
            "found `b3` but no `w3`",
        ),
        (
            "noweights",
            Box::new(|a| {
                a.retain(|k, _| k == "x" || k == "y");
            }),
            "missing array `w0` (the file has: x, y)",
        ),
    ];
    for (tag, edit, expect) in cases {
        let e = error_with(&dir, tag, edit);
        assert!(e.contains(expect), "{tag}: {e}");
        assert!(e.contains(&format!("{tag}.npz")), "{tag}: the error names the file: {e}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn missing_truncated_and_foreign_files_are_refused() -> Result<()> {
    let dir = temp_dir("files");
    let g = dir.join("G.npz");
    let e = run_error(&dir.join("absent.npz"), &g, &[]);
    assert!(e.starts_with("cannot open ") && e.contains("absent.npz"), "{e}");
    let w = dir.join("W.npz");
    write_problem(&problem(7), &w)?;
    let bytes = std::fs::read(&w)?;
    let cut = dir.join("cut.npz");
    std::fs::write(&cut, &bytes[..bytes.len() / 2])?;
    let e = run_error(&cut, &g, &[]);
    assert!(e.contains("cut.npz is not a valid .npz file"), "{e}");
    let text = dir.join("text.npz");
    std::fs::write(&text, "x,y\n1,2\n")?;
    let e = run_error(&text, &g, &[]);
    assert!(e.contains("text.npz is not a valid .npz file"), "{e}");
    // A damaged array inside an intact archive: flip bytes of the first entry's data (CRC mismatch or bad header).
    let mut damaged = bytes.clone();
    for b in &mut damaged[60..120] {
        *b ^= 0x5a;
    }
    let bad = dir.join("damaged.npz");
    std::fs::write(&bad, &damaged)?;
    let e = run_error(&bad, &g, &[]);
    assert!(e.contains("damaged.npz"), "{e}");
    // BatchNorm needs a batch of two.
    let one = dir.join("one.npz");
    let mut arrays = read_npz(&w)?;
    arrays.insert("x".into(), Array::f32(vec![1, 5], vec![0.5; 5])?);
    arrays.insert("y".into(), Array::i64(vec![1], vec![1])?);
    write_npz(&one, &arrays)?;
    let e = run_error(&one, &g, &["--batchnorm"]);
    assert!(e.contains("BatchNorm needs a batch of at least 2 examples"), "{e}");
    // Without BatchNorm a batch of one is fine.
    let args =
        GradientsArgs::try_parse_from(["gradients", "--weights", one.to_str().unwrap(), "--activation", "relu"])?;
    run_gradients(&args, &mut Vec::new())?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn bad_flags_are_refused_by_the_parser() {
    let err = |argv: &[&str]| GradientsArgs::try_parse_from(argv).unwrap_err().to_string();
    let e = err(&["gradients", "--weights", "W.npz", "--activation", "swish"]);
    assert!(e.contains("invalid value 'swish' for '--activation <ACTIVATION>': unknown activation `swish`"), "{e}");
    assert!(e.lines().next().unwrap().contains("unknown activation"), "the message is on the first line: {e}");
    let e = err(&["gradients", "--activation", "relu"]);
    assert!(e.contains("--weights <W.npz>"), "{e}");
    let e = err(&["gradients", "--weights", "W.npz", "--activation", "relu", "--threads", "-2"]);
    assert!(e.contains("must be a positive integer, got `-2`"), "{e}");
}

/// The built example binary, when `cargo test` built it (it builds examples alongside tests).
fn example_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let debug_dir = exe.parent()?.parent()?;
    let bin = debug_dir.join("examples").join(format!("gradients{}", std::env::consts::EXE_SUFFIX));
    bin.is_file().then_some(bin)
}

#[test]
fn example_binary_exits_cleanly() -> Result<()> {
    let Some(bin) = example_binary() else {
        println!("SKIPPED: the gradients example is not built (run `cargo test -p lab`, which builds examples)");
        return Ok(());
    };
    let dir = temp_dir("binary");
    let (w, g) = (dir.join("W.npz"), dir.join("G.npz"));
    write_problem(&problem(8), &w)?;
    let run = |args: &[&str]| std::process::Command::new(&bin).args(args).output().unwrap();
    let (ws, gs) = (w.to_str().unwrap(), g.to_str().unwrap());

    let out = run(&["--weights", ws, "--activation", "swish", "--save-grads", gs]);
    assert_eq!(out.status.code(), Some(2), "clap's usage-error status");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.lines().next().unwrap().contains("unknown activation `swish`"), "{stderr}");
    assert!(!g.exists());

    let missing = dir.join("missing.npz");
    let out = run(&["--weights", missing.to_str().unwrap(), "--activation", "tanh", "--save-grads", gs]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "one error line: {stderr}");
    assert!(stderr.starts_with("error: cannot open ") && stderr.contains("missing.npz"), "{stderr}");
    assert!(!g.exists());

    let out = run(&["--weights", ws, "--activation", "tanh", "--residual", "--save-grads", gs, "--threads", "1"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("loss ") && stdout.contains("tanh, residual"), "{stdout}");
    assert!(read_npz(&g)?.contains_key("gw2"));
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

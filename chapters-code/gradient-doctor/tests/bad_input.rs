//! Bad input gives a clear error, and the doctor's statistics mean what they say.

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use gradient_doctor::{Act, Doctor, Options, TapStats, Thresholds, Verdict};

fn two_layers() -> anyhow::Result<(VarMap, Vec<Var>)> {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let a = candle_nn::linear(3, 4, vb.pp("l0"))?;
    let b = candle_nn::linear(4, 2, vb.pp("l1"))?;
    let _ = (a, b);
    let vars = varmap.all_vars();
    Ok((varmap, vars))
}

fn err<T>(r: anyhow::Result<T>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn an_empty_varmap_is_refused() {
    let e = err(Doctor::new(&VarMap::new()));
    assert!(e.contains("the VarMap is empty"), "{e}");
}

#[test]
fn a_tap_with_nan_is_refused_and_a_disabled_tap_does_nothing() -> anyhow::Result<()> {
    let (varmap, _) = two_layers()?;
    let doctor = Doctor::new(&varmap)?;
    let h = Tensor::new(&[[0.5f32, f32::NAN], [0.1, 0.2]], &Device::Cpu)?;
    let e = err(doctor.tap("l0", &h));
    assert!(e.contains("tap `l0`") && e.contains("1 of 4 activation values are NaN or infinite"), "{e}");
    let e = err(doctor.tap("l0", &Tensor::zeros((0, 3), DType::F32, &Device::Cpu)?));
    assert!(e.contains("empty activation tensor"), "{e}");
    let off = Doctor::with_options(&varmap, Options { taps: false, ..Options::default() })?;
    off.tap("l0", &h)?;
    let p = off.probe("t0", &h)?;
    assert_eq!(p.dims(), h.dims());
    Ok(())
}

#[test]
fn mismatched_names_are_refused() -> anyhow::Result<()> {
    let (varmap, _) = two_layers()?;
    assert_eq!(Doctor::new(&varmap)?.layers(), ["l0", "l1"]);
    let e = err(Doctor::new(&varmap)?.with_layer_order(&["l1", "block2"]));
    assert!(e.contains("no layer `block2` in the VarMap") && e.contains("\"l0\""), "{e}");
    let e = err(Doctor::new(&varmap)?.with_layer_order(&["l1"]));
    assert!(e.contains("layer `l0` must appear exactly once"), "{e}");
    assert_eq!(Doctor::new(&varmap)?.with_layer_order(&["l1", "l0"])?.layers(), ["l1", "l0"]);
    // Tapping a name twice in one step.
    let doctor = Doctor::new(&varmap)?;
    let h = Tensor::new(&[[0.5f32, 0.2]], &Device::Cpu)?;
    doctor.tap("l0", &h)?;
    let e = err(doctor.tap("l0", &h));
    assert!(e.contains("tap `l0` was recorded twice in one step"), "{e}");
    // Gradients of another model.
    let (other, other_vars) = two_layers()?;
    let _ = other;
    let loss = other_vars.iter().map(|v| v.as_tensor().sum_all()).collect::<Result<Vec<_>, _>>()?;
    let grads = Tensor::stack(&loss, 0)?.sum_all()?.backward()?;
    let e = err(doctor.observe_step(&grads, 0.1));
    assert!(e.contains("none of the doctor's 4 parameters") && e.contains("l0.bias"), "{e}");
    // No report before a step, and bad options.
    assert!(err(doctor.report()).contains("no step observed yet"));
    let bad =
        Options { thresholds: Thresholds { vanishing_ratio: 1e3, ..Thresholds::default() }, ..Options::default() };
    assert!(err(Doctor::with_options(&varmap, bad)).contains("must be below the exploding ratio"));
    assert!(err(doctor.observe_step(&grads, f64::NAN)).contains("learning rate must be finite"));
    Ok(())
}

#[test]
fn tap_statistics_follow_the_definitions() -> anyhow::Result<()> {
    let dev = Device::Cpu;
    // Sigmoid: 2 of 4 entries past the 0.03 margin.
    let s = TapStats::of(&Tensor::new(&[[0.01f32, 0.5], [0.99, 0.6]], &dev)?, None)?;
    assert_eq!(s.act, Act::Sigmoid);
    assert_eq!(s.saturated, 0.5);
    // ReLU: unit 1 is zero on both examples, unit 0 is not.
    let r = TapStats::of(&Tensor::new(&[[1.0f32, 0.0, 2.0], [0.0, 0.0, 3.0]], &dev)?, None)?;
    assert_eq!(r.act, Act::Relu);
    assert!((r.dead - 1.0 / 3.0).abs() < 1e-12, "{}", r.dead);
    assert_eq!(TapStats::of(&Tensor::new(&[[-0.5f32, 0.99]], &dev)?, None)?.act, Act::Tanh);
    assert_eq!(TapStats::of(&Tensor::new(&[[-5f32, 2.0]], &dev)?, None)?.act, Act::Other);
    Ok(())
}

#[test]
fn non_finite_gradients_are_a_finding_not_an_error() -> anyhow::Result<()> {
    let (varmap, vars) = two_layers()?;
    let doctor = Doctor::new(&varmap)?;
    let loss = vars.iter().map(|v| (v.as_tensor() * f64::INFINITY)?.sum_all()).collect::<Result<Vec<_>, _>>()?;
    let grads = Tensor::stack(&loss, 0)?.sum_all()?.backward()?;
    doctor.observe_step(&grads, 0.1)?;
    let report = doctor.report()?;
    assert!(report.has(Verdict::NonFinite), "{}", report.table(false));
    assert!(!report.table(false).contains('\x1b') && report.table(true).contains('\x1b'));
    let json: serde_json::Value = serde_json::from_str(&report.to_json()?)?;
    assert_eq!(json["findings"][0]["verdict"], "non_finite");
    // Every step non-finite: the layer statistics are NaN, written as null, read back as NaN.
    assert!(json["layers"][0]["grad_rms"].is_null(), "{json}");
    let back: gradient_doctor::Report = serde_json::from_str(&report.to_json()?)?;
    assert!(back.layers[0].grad_rms.is_nan() && back.verdicts() == report.verdicts());
    assert!(report.svg(doctor.options()).starts_with("<svg") && report.svg(doctor.options()).contains("non-finite"));
    Ok(())
}

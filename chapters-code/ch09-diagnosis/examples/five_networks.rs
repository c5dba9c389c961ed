//! Diagnoses the five broken networks of chapter 9 and their fixes, and prints each report.
//! `cargo run --release -p ch09-diagnosis --example five_networks -- [--json]`

use ch09_diagnosis::{Case, Variant, diagnose};

fn main() -> anyhow::Result<()> {
    let json = std::env::args().skip(1).any(|a| a == "--json");
    if let Some(bad) = std::env::args().skip(1).find(|a| a != "--json") {
        anyhow::bail!("unknown argument `{bad}` (the only flag is --json)");
    }
    for case in Case::ALL {
        for variant in [Variant::Broken, Variant::Fixed] {
            let report = diagnose(case, variant, 0)?;
            println!("== {:?} {:?}: {}", case, variant, case.describe(variant));
            if json {
                println!("{}", report.to_json()?);
            } else {
                report.print();
            }
        }
    }
    Ok(())
}

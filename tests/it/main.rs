#[test]
fn scratch() {
    let org = leakdrill::fixture::resolve("fintech-wealth").unwrap_or_else(|e| panic!("{e}"));
    let plan = leakdrill::pii::Plan::new(&org, 10, leakdrill::seed::Seed(42)).unwrap();
    for (i, o) in org.objects.iter().enumerate() {
        println!("{} {}", o.name, plan.count(i));
        for r in 0..plan.count(i).min(2) {
            println!("{:?}", plan.record(i, r));
        }
    }
}

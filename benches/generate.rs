//! Record generation throughput (records/s): one thread filling rows and
//! serialising them to CSV bytes in memory (no disk), per fixture, plus the
//! whole `org generate` pipeline on all cores into a temp directory.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// The allocator the `leakdrill` binary uses (src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use leakdrill::generate::{generate, write_csv_row};
use leakdrill::pii::Plan;
use leakdrill::seed::Seed;

const RECORDS: u64 = 20_000;

fn rows(c: &mut Criterion) {
    let mut g = c.benchmark_group("generate_rows_1_thread");
    for (name, _, _) in leakdrill::fixture::BUILTIN {
        let org = leakdrill::fixture::resolve(name).expect("built-in fixture");
        let plan = Plan::new(&org, RECORDS, Seed(42)).expect("plan");
        let per_object: Vec<u64> = (0..org.objects.len()).map(|i| plan.count(i)).collect();
        g.throughput(Throughput::Elements(plan.total_records()));
        g.bench_function(*name, |b| {
            let mut row = Vec::new();
            let mut out = Vec::with_capacity(1 << 24);
            b.iter(|| {
                out.clear();
                for (oi, n) in per_object.iter().enumerate() {
                    for i in 0..*n {
                        plan.fill_row(oi, i, &mut row);
                        write_csv_row(&mut out, row.iter().map(|s| s.as_bytes()));
                    }
                }
                out.len()
            });
        });
    }
    g.finish();
}

fn pipeline(c: &mut Criterion) {
    let org = leakdrill::fixture::resolve("fintech-wealth").expect("built-in fixture");
    let plan = Plan::new(&org, 100_000, Seed(42)).expect("plan");
    let dir = tempfile::tempdir().expect("tempdir");
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut g = c.benchmark_group("org_generate_all_cores");
    g.sample_size(10);
    g.throughput(Throughput::Elements(plan.total_records()));
    g.bench_function("fintech-wealth_100k_subjects", |b| {
        b.iter(|| generate(&plan, dir.path(), threads, &|_, _| {}).expect("generate"));
    });
    g.finish();
}

criterion_group!(benches, rows, pipeline);
criterion_main!(benches);

//! The harness must compare like with like: for every job and element type,
//! the plain loop, rayon and shmr give the same answer on the same data.

use shmr_bench::data;
use shmr_bench::report::{Report, Row};
use shmr_bench::workloads::{self, BenchElem, Workload};

shmr::test_worker!();

fn same_answers<A: BenchElem>(pool: &shmr::Pool, threads: &rayon::ThreadPool) {
    let a = data::shared::<A>(100_003, 7).unwrap();
    let view = a.view();
    let xs = view.as_slice().unwrap();
    for job in Workload::ALL {
        let base = workloads::baseline(job, xs);
        let ray = workloads::rayon(job, xs, 1000, threads);
        let shm = workloads::shmr(job, &a, pool).unwrap();
        assert!(
            workloads::agree(job, base, ray),
            "{} {}: loop {base} rayon {ray}",
            job.name(),
            A::DTYPE
        );
        assert!(
            workloads::agree(job, base, shm),
            "{} {}: loop {base} shmr {shm}",
            job.name(),
            A::DTYPE
        );
        if job == Workload::Histogram {
            assert!(
                base > 0.0,
                "the first bin is populated, so the check means something"
            );
        }
    }
}

#[test]
fn three_ways_agree_for_every_job_and_type() {
    let pool = shmr::Pool::builder()
        .workers(2)
        .chunk_size(shmr::ChunkSize::Rows(4096))
        .build()
        .unwrap();
    let threads = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    same_answers::<f64>(&pool, &threads);
    same_answers::<f32>(&pool, &threads);
    same_answers::<i32>(&pool, &threads);
}

fn row(job: Workload, len: usize, baseline_ms: f64, shmr_ms: f64) -> Row {
    Row {
        job,
        dtype: "f64".into(),
        len,
        workers: 2,
        baseline_ms,
        rayon_ms: shmr_ms,
        shmr_ms,
        speedup: baseline_ms / shmr_ms,
        vs_rayon: 1.0,
        gbps: 0.0,
        bandwidth_fraction: 0.0,
        agree: true,
    }
}

#[test]
fn crossover_is_where_shmr_stays_ahead() {
    let sweep = vec![
        row(Workload::Sum, 1000, 0.001, 0.03),
        row(Workload::Sum, 10_000, 0.01, 0.005), // ahead, but falls behind again
        row(Workload::Sum, 100_000, 0.1, 0.2),
        row(Workload::Sum, 1_000_000, 1.0, 0.4),
        row(Workload::Sum, 10_000_000, 10.0, 3.0),
        row(Workload::Stats, 1000, 0.001, 0.03),
        row(Workload::Stats, 10_000, 0.01, 0.05),
    ];
    let c = Report::crossovers(&sweep);
    let of = |job| c.iter().find(|c| c.job == job).unwrap().len;
    assert_eq!(of(Workload::Sum), Some(1_000_000));
    assert_eq!(of(Workload::Stats), None);
    assert_eq!(of(Workload::HeavyMap), None);
}

#[test]
fn a_report_survives_its_json_for_replotting() {
    let mut report = Report {
        machine: shmr_bench::machine::Machine::describe(),
        command: "cargo run --release -p shmr-bench".into(),
        bandwidth: vec![shmr_bench::report::Bandwidth {
            threads: 2,
            gbps: 30.0,
        }],
        rows: vec![row(Workload::Sum, 1_000_000, 1.0, 0.25)],
        sweep: vec![
            row(Workload::Sum, 1000, 0.001, 0.03),
            row(Workload::Sum, 1_000_000, 1.0, 0.25),
        ],
        crossover: Vec::new(),
        startup: Vec::new(),
        first_jobs: Some(shmr_bench::overheads::FirstJobs {
            workers: 2,
            len: 1_000_000,
            shmr_ms: vec![3.0, 1.5],
            rayon_ms: vec![1.0, 1.0],
        }),
        round_trip: None,
        worker_memory: None,
        python: Vec::new(),
        python_note: "Skipped.".into(),
        targets: Vec::new(),
    };
    report.crossover = Report::crossovers(&report.sweep);
    report.check_targets(2);
    let back: Report = serde_json::from_str(&serde_json::to_string(&report).unwrap()).unwrap();
    assert_eq!(back.markdown(), report.markdown());
    assert!(
        report.markdown().contains("| sum vs rayon |"),
        "targets were checked"
    );
    assert!(
        report.markdown().contains("3.0 / 1.0, 1.5 / 1.0"),
        "first jobs shown"
    );
    // A report written before the first jobs were measured still replots.
    let mut old = serde_json::to_value(&report).unwrap();
    old.as_object_mut().unwrap().remove("first_jobs");
    let old: Report = serde_json::from_value(old).unwrap();
    assert!(old.first_jobs.is_none());
}

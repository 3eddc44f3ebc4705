//! Fine-grained numbers with criterion: each built-in job and the heavy
//! map, three ways (single-process loop, rayon, shmr) on the same memory, at
//! a cache-resident and a memory-bound size; and the no-op round trip.
//!
//! cargo bench --bench jobs
//!
//! Criterion owns `main` in most benches; here `main` is written out so that
//! `shmr::init()` comes first, as worker processes need.

use criterion::{BenchmarkId, Criterion, Throughput};
use shmr::Pool;
use shmr_bench::data;
use shmr_bench::workloads::{self, Workload};
use std::hint::black_box;
use std::time::Duration;

fn jobs(c: &mut Criterion) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pool = Pool::builder().workers(cores).build().expect("pool starts");
    let threads = rayon::ThreadPoolBuilder::new()
        .num_threads(cores)
        .build()
        .expect("rayon pool");
    let chunk = shmr::DEFAULT_CHUNK_BYTES / 8;
    for len in [100_000usize, 16_000_000] {
        let a = data::shared::<f64>(len, 42).expect("shared array");
        let view = a.view();
        let xs = view.as_slice().expect("contiguous");
        for job in Workload::ALL {
            let mut g = c.benchmark_group(format!("{}/{len}", job.name()));
            g.throughput(Throughput::Bytes((len * 8) as u64));
            g.bench_function(BenchmarkId::new("loop", 1), |b| {
                b.iter(|| workloads::baseline(job, black_box(xs)))
            });
            g.bench_function(BenchmarkId::new("rayon", cores), |b| {
                b.iter(|| workloads::rayon(job, black_box(xs), chunk, &threads))
            });
            g.bench_function(BenchmarkId::new("shmr", cores), |b| {
                b.iter(|| workloads::shmr(job, black_box(&a), &pool).expect("job runs"))
            });
            g.finish();
        }
    }
    let one = shmr::SharedArray::<f64, _>::zeros(1).expect("shared array");
    c.bench_function("round_trip/no-op", |b| {
        b.iter(|| {
            pool.on(&one)
                .map_reduce(|_| (), |_, _| ())
                .expect("job runs")
        })
    });
}

fn main() {
    shmr::init();
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    jobs(&mut c);
    c.final_summary();
}

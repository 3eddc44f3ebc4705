fn main() -> Result<(), shmr::Error> {
    shmr::init();
    let n = 10_000_000;
    let data = shmr::SharedArray::from_array(&ndarray::Array1::<f64>::linspace(0., 1., n))?;
    let t = std::time::Instant::now();
    let total: f64 = shmr::map_reduce(&data, |chunk| chunk.sum(), |a, b| a + b)?;
    println!("sum {total} in {:?}", t.elapsed());
    let t = std::time::Instant::now();
    let total: f64 = shmr::map_reduce(&data, |chunk| chunk.sum(), |a, b| a + b)?;
    println!("sum {total} in {:?}", t.elapsed());
    let hist = shmr::jobs::Histogram::new(4, 0.0..1.0).run(&data)?;
    println!("{:?}", hist);
    println!("{:?}", shmr::jobs::Stats.run(&data)?);
    Ok(())
}

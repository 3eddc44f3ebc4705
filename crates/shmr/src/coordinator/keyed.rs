//! The job builder's records and keyed steps:
//!
//! ```text
//! pool.on(&text)                       a SharedArray<u8, Ix1>
//!     .records(Delimiters::LINES)      chunks moved to whole records
//!     .params(p).max_keys(n)           as for any job
//!     .keyed(Sum, mapper)              (key, value) pairs, merged by key
//!     or .map_reduce(mapper, reducer)  one value per chunk of records
//! ```
//!
//! A records job reads its text twice in the worker's eyes: chunk by chunk
//! (which chunk is its claim) and whole, as a side array (where the chunk's
//! last record ends). Both are the same mapping of the same segment.
//! A keyed job is a `map_reduce` whose partial is a chunk's table of pairs
//! and whose reducer merges tables: see `job/keyed.rs` for why.

use super::bare;
use super::builder::{JobBuilder, Params, ReportMode};
use super::options::JobOptions;
use super::plan::InputPart;
use crate::error::{Error, Result};
use crate::job::keyed::{
    Combiner, DEFAULT_MAX_KEYS, Delimiters, FoldRecordsBare, FoldRecordsWith, HeldParts,
    HeldRecords, Key, Keyed, KeyedBare, KeyedParts, KeyedPartsBare, KeyedPartsWith, KeyedWith,
    RecordViews, RecordsBare, RecordsFold, RecordsInput, RecordsWith, Shard, Table, Tables, UserFn,
    Value, finish, fold_records_start, fold_records_step, map_keyed_parts, map_keyed_records,
    map_records, merge, record_chunk_bytes,
};
use crate::job::{
    FoldWith, HeldMapper, Input, JobReport, Kind, MapWith, PerChunk, PerWorker, Ready,
};
use crate::memory::SharedArray;
use crate::protocol::Func;
use crate::shm::ChunkSize;
use ndarray::Ix1;
use serde::{Serialize, de::DeserializeOwned};

/// The input of a records job ([`JobBuilder::records`]): a byte array cut
/// into chunks of whole records. A type only.
pub struct ByRecords(());

impl<'a, P, R: ReportMode> JobBuilder<'a, SharedArray<u8, Ix1>, P, R> {
    /// Cuts the bytes into chunks of whole records: a record ends with any
    /// byte of `delimiters`, and each chunk is moved forward to the next
    /// record start at both ends (found by the workers, scanning from the
    /// nominal boundaries: nothing reads the whole input first). A record
    /// longer than a chunk leaves the chunks it covers empty. Chunks are
    /// [`record_chunk_bytes`](crate::keyed::record_chunk_bytes) unless [`chunk_size`](JobBuilder::chunk_size)
    /// says otherwise.
    ///
    /// # Example
    /// ```
    /// # fn main() -> Result<(), shmr::Error> {
    /// # shmr::init();
    /// use shmr::keyed::Delimiters;
    /// let pool = shmr::Pool::builder().workers(2).build()?;
    /// let log = b"GET /a\nPOST /b\nGET /c\n".repeat(1000);
    /// let text = shmr::SharedArray::from_array(&ndarray::Array1::from_vec(log))?;
    /// let gets: usize = pool
    ///     .on(&text)
    ///     .records(Delimiters::LINES)
    ///     .chunk_size(shmr::ChunkSize::Bytes(100)) // lines cut in two, were it not for records
    ///     .map_reduce(|lines| lines.iter().filter(|l| l.starts_with(b"GET ")).count(), |a, b| a + b)?;
    /// assert_eq!(gets, 2000);
    /// # Ok(()) }
    /// ```
    pub fn records(mut self, delimiters: Delimiters) -> JobBuilder<'a, ByRecords, P, R> {
        let text = self.parts[0].array;
        self.opts.delimiters = delimiters;
        if self.opts.chunk.is_none() {
            let len = text.header.shape().first().copied().unwrap_or(0);
            self.opts.chunk = Some(ChunkSize::Bytes(record_chunk_bytes(len)));
        }
        // Seen whole too, to find where the chunk's last record ends.
        self.append(InputPart {
            array: text,
            side: true,
        })
    }
}

/// What a keyed job can read: records, or arrays (one, or several read
/// together, with side arrays). Sealed: the settings of keyed jobs are
/// offered on these builders only.
pub trait KeyedInput: sealed::Sealed {}
impl KeyedInput for ByRecords {}
impl<I: KeyedParts> KeyedInput for I {}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::ByRecords {}
    impl<I: crate::job::keyed::KeyedParts> Sealed for I {}
}

impl<'a, I: KeyedInput, P, R: ReportMode> JobBuilder<'a, I, P, R> {
    /// The most distinct keys a keyed job may hold, in each chunk's table
    /// and in the merged result (default [`DEFAULT_MAX_KEYS`]); a job that
    /// meets more ends with [`Error::KeyLimit`]. It bounds memory: about
    /// the key's size plus 130 bytes per key at the limit, in the
    /// coordinator and in each worker (docs/reliability.md).
    ///
    /// Only where a keyed job can follow (records, arrays); on a job that
    /// writes its array in place it does not compile:
    /// ```compile_fail,E0599
    /// # fn main() -> Result<(), shmr::Error> {
    /// let pool = shmr::Pool::new()?;
    /// let mut a = shmr::SharedArray::<f64, _>::zeros(10)?;
    /// pool.on_mut(&mut a).max_keys(10).map_in_place(|mut c| c.fill(1.0))?;
    /// # Ok(()) }
    /// ```
    pub fn max_keys(mut self, max_keys: usize) -> Self {
        self.opts.max_keys = Some(max_keys);
        self
    }

    /// Where a keyed job's workers keep their tables: one per worker or
    /// one per chunk (default [`Tables::Auto`]: per worker when the
    /// combiner is order-free). One per chunk is faster for jobs of
    /// millions of distinct keys; see [`Tables`].
    ///
    /// # Example
    /// ```
    /// # fn main() -> Result<(), shmr::Error> {
    /// # shmr::init();
    /// use shmr::keyed::{Sum, Tables};
    /// let ids = shmr::SharedArray::from_array(&ndarray::Array1::from_iter((0..100_000_u64).map(|i| i % 5000)))?;
    /// let counts = shmr::global_pool()?
    ///     .on(&ids)
    ///     .tables(Tables::PerChunk)
    ///     .keyed(Sum, |chunk, out| chunk.iter().for_each(|id| out.emit(id, 1_u32)))?;
    /// assert_eq!(counts.len(), 5000);
    /// # Ok(()) }
    /// ```
    pub fn tables(mut self, tables: Tables) -> Self {
        self.opts.tables = tables;
        self
    }
}

impl<'a, R: ReportMode> JobBuilder<'a, ByRecords, (), R> {
    /// Maps each chunk's records to a value and folds the values in chunk
    /// order with `reducer`, like [`JobBuilder::map_reduce`].
    pub fn map_reduce<T>(
        self,
        mapper: RecordsBare<T>,
        reducer: impl FnMut(T, T) -> T,
    ) -> Result<R::Out<T>>
    where
        T: Serialize + DeserializeOwned + 'static,
    {
        self.bare_mapper(Func::new(mapper))
            .map_reduce(bare::records::<T>, reducer)
    }

    /// Folds every record a worker maps into one accumulator per worker,
    /// merged here, like [`JobBuilder::fold`] (and with what it says of
    /// bits, memory and faults): several results in one pass over a log,
    /// a struct of tables or counters.
    ///
    /// # Example
    /// ```
    /// # fn main() -> Result<(), shmr::Error> {
    /// # shmr::init();
    /// use shmr::keyed::Delimiters;
    /// let pool = shmr::Pool::builder().workers(2).build()?;
    /// let log = b"GET /a 200\nPOST /b 404\nGET /c 200\n".repeat(1000);
    /// let text = shmr::SharedArray::from_array(&ndarray::Array1::from_vec(log))?;
    /// // Requests and errors in one pass.
    /// let (requests, errors) = pool.on(&text).records(Delimiters::LINES).fold(
    ///     || (0_u64, 0_u64),
    ///     |(n, e), lines| {
    ///         for l in lines.iter() {
    ///             *n += 1;
    ///             *e += l.ends_with(b" 404") as u64;
    ///         }
    ///     },
    ///     |a, b| (a.0 + b.0, a.1 + b.1),
    /// )?;
    /// assert_eq!((requests, errors), (3000, 1000));
    /// # Ok(()) }
    /// ```
    pub fn fold<T>(
        self,
        start: fn() -> T,
        step: FoldRecordsBare<T>,
        merge: fn(T, T) -> T,
    ) -> Result<R::Out<T>>
    where
        T: Serialize + DeserializeOwned + 'static,
    {
        self.bare_mapper((Func::new(start), Func::new(step))).fold(
            bare::fold_start,
            bare::fold_records_step::<T>,
            merge,
        )
    }

    /// Maps each chunk's records to `(key, value)` pairs, emitted into a
    /// table that combines the values of a key with `combiner` at once,
    /// and merges the tables: every key with its combined value, sorted by
    /// key, the same for any number of workers.
    ///
    /// # Errors
    /// [`Error::KeyLimit`] past [`max_keys`](JobBuilder::max_keys) distinct
    /// keys. The combiner runs in the workers (at every emit) and, merging
    /// tables, here: a panic in a worker is [`Error::MapperPanicked`]
    /// naming the chunk, one here [`Error::ReducerPanicked`]; neither
    /// unwinds into the caller, for any number of workers. How many tables
    /// meet here depends on the workers when each keeps one
    /// ([`Tables`]), so a combiner that panics only on some pairs of
    /// values may panic with two workers and not with one.
    pub fn keyed<K: Key, V: Value, C: Combiner<V> + Clone>(
        self,
        combiner: C,
        mapper: KeyedBare<K, V, C>,
    ) -> Result<R::Out<Keyed<K, V>>> {
        self.bare_mapper(Func::new(mapper))
            .keyed(combiner, bare::keyed_records::<K, V, C>)
    }
}

impl<'a, P, R: ReportMode> JobBuilder<'a, ByRecords, Params<P>, R>
where
    P: Serialize + DeserializeOwned + 'static,
{
    /// [`map_reduce`](JobBuilder::map_reduce) of records whose mapper gets
    /// the parameters first.
    pub fn map_reduce<T>(
        self,
        mapper: RecordsWith<P, T>,
        reducer: impl FnMut(T, T) -> T,
    ) -> Result<R::Out<T>>
    where
        T: Serialize + DeserializeOwned + 'static,
    {
        let (v, r) = records_map_reduce(self.opts, &self.parts, self.params.0, mapper, reducer)?;
        Ok(R::out(v, r))
    }

    /// [`fold`](JobBuilder::fold) over records whose start and step get
    /// the parameters first.
    pub fn fold<T>(
        self,
        start: fn(&P) -> T,
        step: FoldRecordsWith<P, T>,
        merge: fn(T, T) -> T,
    ) -> Result<R::Out<T>>
    where
        T: Serialize + DeserializeOwned + 'static,
    {
        let delimiters = delimiters(&self.opts);
        self.finish(
            |Params(params)| {
                let job = RecordsFold {
                    delimiters: delimiters?,
                    params,
                    start: Func::new(start),
                    step: Func::new(step),
                };
                let start = fold_records_start::<P, T>;
                let step = fold_records_step::<P, T>
                    as for<'c> fn(&RecordsFold<P, T>, &mut T, RecordViews<'c>);
                let step: FoldWith<RecordsFold<P, T>, RecordsInput, T> = step;
                Ready::reads(&PerWorker::<_, RecordsInput>::fold(job, start, step))
            },
            &mut |a, b| merge(a, b),
        )
    }

    /// [`keyed`](JobBuilder::keyed) over records whose mapper gets the
    /// parameters first.
    pub fn keyed<K: Key, V: Value, C: Combiner<V> + Clone>(
        self,
        combiner: C,
        mapper: KeyedWith<P, K, V, C>,
    ) -> Result<R::Out<Keyed<K, V>>> {
        let (v, r) = records_keyed(self.opts, &self.parts, self.params.0, mapper, combiner)?;
        Ok(R::out(v, r))
    }
}

impl<'a, I: KeyedParts, R: ReportMode> JobBuilder<'a, I, (), R> {
    /// A keyed job over an array's chunks, or over arrays read together
    /// (with side arrays): the mapper emits `(key, value)` pairs for its
    /// chunk (a group-by: sums per sensor id, counts per class), merged as
    /// for records (see [`keyed`](JobBuilder::keyed)).
    ///
    /// # Example
    /// ```
    /// # fn main() -> Result<(), shmr::Error> {
    /// # shmr::init();
    /// use shmr::keyed::Max;
    /// let pool = shmr::Pool::builder().workers(2).build()?;
    /// // Rows of (sensor id, reading): the largest reading of each sensor.
    /// let rows = ndarray::Array2::from_shape_fn((10_000, 2), |(i, j)| if j == 0 { (i % 7) as i64 } else { (i as i64 * 37) % 1000 });
    /// let a = shmr::SharedArray::from_array(&rows)?;
    /// let top = pool.on(&a).keyed(Max, |chunk, out| {
    ///     for row in chunk.rows() {
    ///         out.emit(&row[0], row[1]);
    ///     }
    /// })?;
    /// assert_eq!(top.len(), 7);
    /// assert!(top.iter().all(|(_, max)| *max >= 990));
    ///
    /// // The same over two arrays read together: ids and readings.
    /// let ids = shmr::SharedArray::from_array(&rows.column(0).to_owned())?;
    /// let readings = shmr::SharedArray::from_array(&rows.column(1).to_owned())?;
    /// let same = pool.on(&ids).and(&readings).keyed(Max, |(ids, readings), out| {
    ///     for (id, &r) in ids.iter().zip(readings) {
    ///         out.emit(id, r);
    ///     }
    /// })?;
    /// assert_eq!(same.as_slice(), top.as_slice());
    /// # Ok(()) }
    /// ```
    pub fn keyed<K: Key, V: Value, C: Combiner<V> + Clone>(
        self,
        combiner: C,
        mapper: KeyedPartsBare<I, K, V, C>,
    ) -> Result<R::Out<Keyed<K, V>>> {
        self.bare_mapper(I::keyed_bare_func(mapper))
            .keyed(combiner, bare::keyed_parts::<I, K, V, C>)
    }
}

impl<'a, I: KeyedParts, P, R: ReportMode> JobBuilder<'a, I, Params<P>, R>
where
    P: Serialize + DeserializeOwned + 'static,
{
    /// [`keyed`](JobBuilder::keyed) over arrays whose mapper gets the
    /// parameters first.
    pub fn keyed<K: Key, V: Value, C: Combiner<V> + Clone>(
        self,
        combiner: C,
        mapper: KeyedPartsWith<P, I, K, V, C>,
    ) -> Result<R::Out<Keyed<K, V>>> {
        let (v, r) = parts_keyed(self.opts, &self.parts, self.params.0, mapper, combiner)?;
        Ok(R::out(v, r))
    }
}

fn delimiters(opts: &JobOptions<'_>) -> Result<Delimiters> {
    if opts.delimiters.is_empty() {
        return Err(Error::InvalidConfig(
            "a records job needs at least one delimiter byte (Delimiters::new(b\"\\n\"), say); \
             with none the whole input is one record"
                .into(),
        ));
    }
    Ok(opts.delimiters)
}

/// Whether the job keeps one table per worker ([`Tables`]).
fn held<V, C: Combiner<V>>(opts: &JobOptions<'_>, combiner: &C) -> Result<bool> {
    let order_free = combiner.order_free();
    match opts.tables {
        Tables::Auto => Ok(order_free),
        Tables::PerChunk => Ok(false),
        Tables::PerWorker if order_free => Ok(true),
        Tables::PerWorker => Err(Error::InvalidConfig(format!(
            "tables(Tables::PerWorker) needs an order-free combiner, and {} says it is not \
             (Combiner::order_free): which chunks a worker gets depends on timing, so the result \
             would change from run to run; use Tables::PerChunk or Tables::Auto",
            std::any::type_name::<C>()
        ))),
    }
}

/// A keyed job's function as its workers get it, once the job's settings
/// are checked (in one check, agreed across ranks), and whether its
/// workers each keep one table. Records jobs need delimiters; a keyed job
/// over an array has none to check.
fn keyed_fn<P, F, V, C: Combiner<V> + Clone>(
    opts: &JobOptions<'_>,
    records: bool,
    params: P,
    f: Func<F>,
    combiner: &C,
) -> Result<(UserFn<P, F, C>, bool)> {
    let (delimiters, max_keys, held) = opts.checked(
        (|| {
            let delimiters = if records {
                delimiters(opts)?
            } else {
                opts.delimiters
            };
            Ok((delimiters, max_keys(opts)?, held(opts, combiner)?))
        })(),
        true,
    )?;
    let job = UserFn {
        delimiters,
        params,
        f,
        combiner: combiner.clone(),
        max_keys,
        chunk_keys: Default::default(),
    };
    Ok((job, held))
}

fn max_keys(opts: &JobOptions<'_>) -> Result<usize> {
    match opts.max_keys.unwrap_or(DEFAULT_MAX_KEYS) {
        0 => Err(Error::InvalidConfig("max_keys must be at least 1".into())),
        n => Ok(n),
    }
}

fn records_map_reduce<P, T>(
    opts: JobOptions<'_>,
    parts: &[InputPart<'_>],
    params: P,
    mapper: RecordsWith<P, T>,
    reducer: impl FnMut(T, T) -> T,
) -> Result<(T, JobReport)>
where
    P: Serialize + DeserializeOwned + 'static,
    T: Serialize + DeserializeOwned + 'static,
{
    let job = UserFn {
        delimiters: opts.checked(delimiters(&opts), false)?,
        params,
        f: Func::new(mapper),
        combiner: (),
        max_keys: 0,
        chunk_keys: Default::default(),
    };
    let map =
        map_records::<P, T> as for<'c> fn(&UserFn<P, RecordsWith<P, T>>, RecordViews<'c>) -> T;
    let mut reducer = reducer;
    let job = PerChunk::<_, RecordsInput>::with(job, as_map_with(map));
    opts.run(parts, Ready::reads(&job), &mut reducer)
}

fn records_keyed<P, K: Key, V: Value, C: Combiner<V> + Clone>(
    opts: JobOptions<'_>,
    parts: &[InputPart<'_>],
    params: P,
    mapper: KeyedWith<P, K, V, C>,
    combiner: C,
) -> Result<(Keyed<K, V>, JobReport)>
where
    P: Serialize + DeserializeOwned + 'static,
{
    let (job, held) = keyed_fn(&opts, true, params, Func::new(mapper), &combiner)?;
    let max_keys = job.max_keys;
    if held {
        return run_held::<RecordsInput, _, _, _, _>(
            opts,
            parts,
            HeldRecords(job),
            &combiner,
            max_keys,
        );
    }
    let map = map_keyed_records::<P, K, V, C>
        as for<'c> fn(&UserFn<P, KeyedWith<P, K, V, C>, C>, RecordViews<'c>) -> Table<K, V>;
    run_keyed::<RecordsInput, _, _, _, _>(opts, parts, job, as_map_with(map), &combiner, max_keys)
}

fn parts_keyed<P, I, K, V, C>(
    opts: JobOptions<'_>,
    parts: &[InputPart<'_>],
    params: P,
    mapper: KeyedPartsWith<P, I, K, V, C>,
    combiner: C,
) -> Result<(Keyed<K, V>, JobReport)>
where
    P: Serialize + DeserializeOwned + 'static,
    I: KeyedParts,
    K: Key,
    V: Value,
    C: Combiner<V> + Clone,
{
    let (job, held) = keyed_fn(&opts, false, params, I::keyed_func(mapper), &combiner)?;
    let max_keys = job.max_keys;
    if held {
        return run_held::<I, _, _, _, _>(opts, parts, HeldParts(job), &combiner, max_keys);
    }
    let map = map_keyed_parts::<P, I, K, V, C>;
    run_keyed::<I, _, _, _, _>(opts, parts, job, map, &combiner, max_keys)
}

/// Runs a keyed job whose combiner is order-free: one table per worker,
/// merged in the order the workers finish (the same result in any order).
fn run_held<I: Input, H, K: Key, V: Value, C: Combiner<V>>(
    opts: JobOptions<'_>,
    parts: &[InputPart<'_>],
    held: H,
    combiner: &C,
    max_keys: usize,
) -> Result<(Keyed<K, V>, JobReport)>
where
    H: HeldMapper<I, Acc = Table<K, V>> + 'static,
{
    let job = PerWorker::<H, I>::new(held);
    run_tables(opts, parts, Ready::reads(&job), combiner, max_keys)
}

/// The end of every keyed job: its tables (one per chunk or per worker)
/// merged in chunk order, across ranks shuffled so that each rank keeps
/// the keys it owns, then sorted.
fn run_tables<'a, Kd, K: Key, V: Value, C: Combiner<V>>(
    opts: JobOptions<'_>,
    parts: &[InputPart<'a>],
    job: Result<Ready<'a, Kd>>,
    combiner: &C,
    max_keys: usize,
) -> Result<(Keyed<K, V>, JobReport)>
where
    Kd: Kind<Partial = Table<K, V>>,
{
    let (table, report) = opts.run_shuffled(
        parts,
        job,
        &mut |a, b| merge(a, b, combiner, max_keys),
        &Table::cut,
    )?;
    let shard = opts.across.map(|r| Shard {
        rank: r.rank(),
        ranks: r.size(),
    });
    Ok((finish(table, max_keys)?.in_shard(shard), report))
}

/// Runs a keyed job: its chunks' tables merged in chunk order, then sorted.
fn run_keyed<I: Input, J, K: Key, V: Value, C: Combiner<V>>(
    opts: JobOptions<'_>,
    parts: &[InputPart<'_>],
    job: J,
    map: MapWith<J, I, Table<K, V>>,
    combiner: &C,
    max_keys: usize,
) -> Result<(Keyed<K, V>, JobReport)>
where
    J: Serialize + DeserializeOwned + 'static,
{
    let job = PerChunk::<_, I>::with(job, map);
    run_tables(opts, parts, Ready::reads(&job), combiner, max_keys)
}

/// A function over the records input's two views, as the mapper type of
/// that input (the same type, named through the input).
fn as_map_with<P, T>(f: for<'c> fn(&P, RecordViews<'c>) -> T) -> MapWith<P, RecordsInput, T> {
    f
}

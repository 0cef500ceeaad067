//! One input of `batch`: the one job ([`audioproc_s3::job::run`]) with the batch's rules, and
//! its outcome as a report line.

use std::sync::Arc;

use audioproc_engine::ProcessingSpec;
use audioproc_s3::ObjectStore;
use audioproc_s3::job::{self, Destination, Job, Object, Outcome, Planned, Policy};

use super::listing::Item;
use super::report::{InFlight, Line, Status};

/// What every input's job shares.
#[derive(Debug)]
pub struct Context {
    /// Where the inputs are.
    pub source: Arc<dyn ObjectStore>,
    /// The outputs: the source tree (minus `strip`) mirrored under `prefix` of `store`.
    pub dest: Destination,
    /// What to do.
    pub spec: ProcessingSpec,
    /// The batch's rules (skip what is done unless `--force`, sidecars, one thread per file,
    /// `--jobs` compute slots, the shared stop token).
    pub policy: Policy,
    /// Plan only (`--dry-run`).
    pub dry_run: bool,
    /// `--album`: the album level of each input key that belongs to a measurable album.
    pub albums: std::collections::HashMap<String, audioproc_engine::AlbumLevel>,
}

impl Context {
    fn job(&self, item: &Item) -> Job {
        Job {
            source: Object::new(Arc::clone(&self.source), item.key.clone()),
            dest: self.dest.clone(),
            spec: ProcessingSpec { album: self.albums.get(&item.key).copied(), ..self.spec.clone() },
            policy: self.policy.clone(),
        }
    }
}

/// Reserves `item`'s place in the queue of its output, in listing order, so that of inputs with
/// the same output name the first listed decides about it first (see [`job::claims`]). Held
/// until the item's job has ended.
pub fn reserve(ctx: &Context, item: &Item) -> Option<job::claims::Claim> {
    let claims = ctx.policy.claims.as_ref().filter(|_| item.refused.is_none() && !ctx.dry_run)?;
    let job = ctx.job(item);
    job::plan::output_of(&job).map(|o| claims.reserve(&o.display(), &job.source.display()))
}

/// Runs one input; `None` when the batch was stopped before it began (the next run does it).
pub async fn run(ctx: &Context, item: Item, id: u64, in_flight: &InFlight) -> Option<Line> {
    if let Some(why) = item.refused {
        return Some(Line::new(item.key, None, Status::Failed, Some(why)));
    }
    let job = ctx.job(&item);
    let source = job.source.display();
    let output = job::plan::output_of(&job).filter(|o| o.store.check_key(&o.key).is_ok()).map(|o| o.display());
    if ctx.dry_run {
        return Some(planned(&job, source, output).await);
    }
    let shown = output.clone().unwrap_or_default();
    in_flight.lock().unwrap_or_else(|e| e.into_inner()).insert(id, (source.clone(), shown));
    let line = match job::run(&job).await {
        Outcome::Written(w) => Line::ok(source, w.dest_display, &w.process, &w.timings),
        Outcome::AlreadyDone { display, .. } => Line::new(source, Some(display), Status::Skipped, None),
        Outcome::Stopped => {
            in_flight.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
            return None;
        }
        Outcome::Ignored { reason } => Line::new(source, output, Status::Failed, Some(reason.to_owned())),
        Outcome::PermanentFailure { error, .. } | Outcome::RetryableFailure { error } => {
            Line::new(source, output, Status::Failed, Some(error.message))
        }
    };
    Some(line)
}

/// A dry run's line: what the job would do.
async fn planned(job: &Job, source: String, output: Option<String>) -> Line {
    match job::plan(job).await {
        Ok(Planned::Process(p)) => Line::new(source, Some(p.dest.display()), Status::Planned, None),
        Ok(Planned::AlreadyDone(o)) => Line::new(source, Some(o.display()), Status::Skipped, None),
        Ok(Planned::Ignored(why)) => Line::new(source, output, Status::Failed, Some(why.to_owned())),
        Ok(Planned::Refused(e)) | Err(e) => Line::new(source, output, Status::Failed, Some(e.message)),
    }
}

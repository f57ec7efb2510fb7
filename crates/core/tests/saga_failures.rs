//! Failure injection and crash recovery for every saga of the gateway, in
//! the style of omicron's saga tests (see `tricircle_jobs::saga::testing`):
//! for each saga and each step, a failure there (before the step's work, or
//! after it) unwinds to the world as it was before the saga, top and every
//! pod; a process dying after the step (its progress saved or not) is
//! resumed by a new one to the world an uninterrupted run makes; a process
//! dying during the unwind is finished by a new one. Deletes are not undone
//! (once a pod was asked, only going forward is consistent): a delete that
//! fails at any step and is then retried by its caller reaches the world of
//! a delete that never failed. Last, where no step boundary reaches: a pod
//! failing once inside a step pauses the saga, and the job runner's next
//! attempt ends as an uninterrupted run, or an API call's unwind as before.
//!
//! Every run has a fresh world; pictures compare labels, not IDs (see
//! `saga_world/picture.rs`, and the last tests here: the picture is not blind).

mod common;
mod saga_world;

use saga_world::{InPods, SagaCase, SagaWorld, picture};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tricircle_core::App;
use tricircle_core::compute::server_create::ServerCreate;
use tricircle_core::compute::server_group_copies::GroupCopyDelete;
use tricircle_core::compute::servers::ServerDelete;
use tricircle_core::volumes::create::{VolumeCreate, VolumeDelete};
use tricircle_jobs::saga::testing::{self, Against, Recorder, Scenario, assert_none};
use tricircle_jobs::{Journal, Progress, Saga, SagaOutcome, StepFuture, execute};
use tricircle_pod_client::{PodRequest, ServiceType};
use tricircle_sim_pod::FaultRule;

/// The API's answer to a plan, with "not found" as nothing left to do.
fn planned<S>(r: tricircle_common::Result<S>) -> Option<S> {
    match r {
        Ok(s) => Some(s),
        Err(e) if e.status() == 404 => None,
        Err(e) => panic!("the plan failed: {e:?}"),
    }
}

/// A server booted from the image with a keypair, an anti-affinity group,
/// a port of its own and one made for it, next to a server in the other
/// pod on the same network (so its port gets a shadow there): every step
/// has work to do but `volumes`.
struct ImageBoot;

impl SagaCase for ImageBoot {
    type Saga = ServerCreate;
    const PODS: usize = 2;

    async fn setup(&self, w: &mut SagaWorld) {
        w.network_and_port().await;
        w.keypair().await;
        w.group("anti-affinity").await;
        w.server_on_net("neighbour", "az2", "10.0.0.20").await;
    }

    async fn plan(&self, w: &SagaWorld) -> Option<ServerCreate> {
        let networks =
            json!([{"port": w.id("port")}, {"uuid": w.id("net"), "fixed_ip": "10.0.0.11"}]);
        let mut spec = w.w.with_networks("vm", "az1", networks);
        spec.key_name = Some("k1".into());
        spec.group = Some(w.id("group").into());
        planned(w.w.app.server_create_plan(&w.w.demo, spec).await.map(|(s, _)| s))
    }
}

/// A server booted from a volume made from the image for it, with an
/// existing volume attached: `volumes` copies the image, makes one volume
/// and takes the other.
struct VolumeBoot;

impl SagaCase for VolumeBoot {
    type Saga = ServerCreate;
    const PODS: usize = 1;

    async fn setup(&self, w: &mut SagaWorld) {
        w.volume("data", "az1", false).await;
    }

    async fn plan(&self, w: &SagaWorld) -> Option<ServerCreate> {
        let mappings = json!([
            {"boot_index": 0, "uuid": w.w.image, "source_type": "image",
             "destination_type": "volume", "volume_size": 1, "delete_on_termination": true},
            {"boot_index": -1, "uuid": w.id("data"), "source_type": "volume"},
        ]);
        let spec = w.volume_boot("vm", mappings);
        planned(w.w.app.server_create_plan(&w.w.demo, spec).await.map(|(s, _)| s))
    }
}

/// A volume made from the image (copied into the pod for it).
struct VolumeFromImage;

impl SagaCase for VolumeFromImage {
    type Saga = VolumeCreate;
    const PODS: usize = 1;

    async fn setup(&self, _: &mut SagaWorld) {}

    async fn plan(&self, w: &SagaWorld) -> Option<VolumeCreate> {
        let spec = w.volume_spec("v", "az1", true);
        planned(w.w.app.volume_create_plan(&w.w.demo, spec).await.map(|(s, _)| s))
    }
}

/// A server with a port of its own and one made for it, next to a server
/// in the other pod on the same network (so its ports have shadows there).
struct DeleteServer;

impl SagaCase for DeleteServer {
    type Saga = ServerDelete;
    const PODS: usize = 2;

    async fn setup(&self, w: &mut SagaWorld) {
        w.network_and_port().await;
        let networks =
            json!([{"port": w.id("port")}, {"uuid": w.id("net"), "fixed_ip": "10.0.0.11"}]);
        let id = w.w.create(w.w.with_networks("vm", "az1", networks)).await.unwrap();
        w.ids.insert("vm", id);
        w.server_on_net("neighbour", "az2", "10.0.0.20").await;
    }

    async fn plan(&self, w: &SagaWorld) -> Option<ServerDelete> {
        planned(w.w.app.server_delete_plan(&w.w.demo, w.id("vm")).await.map(|(s, _)| s))
    }
}

/// A server booted from a volume its pod deletes with it: deleting the
/// server forgets the volume once the pod says it is gone.
struct DeleteServerAndItsVolume;

impl SagaCase for DeleteServerAndItsVolume {
    type Saga = ServerDelete;
    const PODS: usize = 1;

    async fn setup(&self, w: &mut SagaWorld) {
        w.volume("root", "az1", true).await;
        let mappings = json!([{"boot_index": 0, "uuid": w.id("root"), "source_type": "volume",
                               "delete_on_termination": true}]);
        let id = w.w.create(w.volume_boot("vm", mappings)).await.unwrap();
        w.ids.insert("vm", id);
    }

    async fn plan(&self, w: &SagaWorld) -> Option<ServerDelete> {
        DeleteServer.plan(w).await
    }
}

struct DeleteVolume;

impl SagaCase for DeleteVolume {
    type Saga = VolumeDelete;
    const PODS: usize = 1;

    async fn setup(&self, w: &mut SagaWorld) {
        w.volume("v", "az1", false).await;
    }

    async fn plan(&self, w: &SagaWorld) -> Option<VolumeDelete> {
        planned(w.w.app.volume_delete_plan(&w.w.demo, w.id("v")).await.map(|(s, _)| s))
    }
}

/// The pod's copy of a group with a member there.
struct DeleteGroupCopy;

impl SagaCase for DeleteGroupCopy {
    type Saga = GroupCopyDelete;
    const PODS: usize = 1;

    async fn setup(&self, w: &mut SagaWorld) {
        w.group("affinity").await;
        let mut spec = w.w.spec("member");
        spec.group = Some(w.id("group").into());
        w.w.create(spec).await.unwrap();
    }

    async fn plan(&self, w: &SagaWorld) -> Option<GroupCopyDelete> {
        let group = w.w.app.store().server_group_get(w.id("group")).await.unwrap()?;
        let copies = w.w.app.server_group_copy_deletes(&group).await.unwrap();
        copies.into_iter().next().map(|(s, _)| s)
    }
}

#[tokio::test]
async fn server_create_from_an_image_failing_at_any_step_leaves_nothing() {
    let problems = testing::failures_unwind_to_before(&InPods(ImageBoot)).await;
    assert_none("server create from an image", problems);
}

#[tokio::test]
async fn server_create_from_an_image_resumes_after_a_crash_at_any_step() {
    let problems = testing::crashes_resume_to_uninterrupted(&InPods(ImageBoot)).await;
    assert_none("server create from an image", problems);
}

#[tokio::test]
async fn server_create_from_an_image_finishes_an_interrupted_unwind() {
    let problems = testing::unwind_crashes_resume_to_before(&InPods(ImageBoot)).await;
    assert_none("server create from an image", problems);
}

#[tokio::test]
async fn server_create_from_volumes_failing_at_any_step_leaves_nothing() {
    let problems = testing::failures_unwind_to_before(&InPods(VolumeBoot)).await;
    assert_none("server create from volumes", problems);
}

#[tokio::test]
async fn server_create_from_volumes_resumes_after_a_crash_at_any_step() {
    let problems = testing::crashes_resume_to_uninterrupted(&InPods(VolumeBoot)).await;
    assert_none("server create from volumes", problems);
}

#[tokio::test]
async fn server_create_from_volumes_finishes_an_interrupted_unwind() {
    let problems = testing::unwind_crashes_resume_to_before(&InPods(VolumeBoot)).await;
    assert_none("server create from volumes", problems);
}

#[tokio::test]
async fn volume_create_failing_at_any_step_leaves_nothing() {
    let problems = testing::failures_unwind_to_before(&InPods(VolumeFromImage)).await;
    assert_none("volume create", problems);
}

#[tokio::test]
async fn volume_create_resumes_after_a_crash_at_any_step() {
    let problems = testing::crashes_resume_to_uninterrupted(&InPods(VolumeFromImage)).await;
    assert_none("volume create", problems);
}

#[tokio::test]
async fn volume_create_finishes_an_interrupted_unwind() {
    let problems = testing::unwind_crashes_resume_to_before(&InPods(VolumeFromImage)).await;
    assert_none("volume create", problems);
}

#[tokio::test]
async fn server_delete_failing_at_any_step_then_retried_is_as_if_it_never_failed() {
    let problems = testing::failures_then_retry_reach_uninterrupted(&InPods(DeleteServer)).await;
    assert_none("server delete", problems);
}

#[tokio::test]
async fn server_delete_resumes_after_a_crash_at_any_step() {
    let problems = testing::crashes_resume_to_uninterrupted(&InPods(DeleteServer)).await;
    assert_none("server delete", problems);
}

#[tokio::test]
async fn server_delete_with_its_volume_failing_at_any_step_then_retried_is_as_if_it_never_failed() {
    let problems =
        testing::failures_then_retry_reach_uninterrupted(&InPods(DeleteServerAndItsVolume)).await;
    assert_none("server delete with its volume", problems);
}

#[tokio::test]
async fn server_delete_with_its_volume_resumes_after_a_crash_at_any_step() {
    let problems =
        testing::crashes_resume_to_uninterrupted(&InPods(DeleteServerAndItsVolume)).await;
    assert_none("server delete with its volume", problems);
}

#[tokio::test]
async fn volume_delete_failing_at_any_step_then_retried_is_as_if_it_never_failed() {
    let problems = testing::failures_then_retry_reach_uninterrupted(&InPods(DeleteVolume)).await;
    assert_none("volume delete", problems);
}

#[tokio::test]
async fn volume_delete_resumes_after_a_crash_at_any_step() {
    let problems = testing::crashes_resume_to_uninterrupted(&InPods(DeleteVolume)).await;
    assert_none("volume delete", problems);
}

#[tokio::test]
async fn group_copy_delete_failing_at_any_step_then_retried_is_as_if_it_never_failed() {
    let problems = testing::failures_then_retry_reach_uninterrupted(&InPods(DeleteGroupCopy)).await;
    assert_none("group copy delete", problems);
}

#[tokio::test]
async fn group_copy_delete_resumes_after_a_crash_at_any_step() {
    let problems = testing::crashes_resume_to_uninterrupted(&InPods(DeleteGroupCopy)).await;
    assert_none("group copy delete", problems);
}

/// `S` whose undo of step `forget` does nothing: a saga with a broken undo.
#[derive(Clone, Serialize, Deserialize)]
struct ForgetUndo<S> {
    #[serde(flatten)]
    inner: S,
    forget: usize,
}

impl<S: Saga<Ctx = App>> Saga for ForgetUndo<S> {
    type Ctx = App;
    const NAME: &'static str = S::NAME;
    const STEPS: &'static [&'static str] = S::STEPS;

    fn run<'a>(&'a mut self, ctx: &'a App, step: usize) -> StepFuture<'a> {
        self.inner.run(ctx, step)
    }

    fn undo<'a>(&'a mut self, ctx: &'a App, step: usize) -> StepFuture<'a> {
        if step == self.forget {
            return Box::pin(async { Ok(()) });
        }
        self.inner.undo(ctx, step)
    }
}

/// A volume create whose `volume` undo leaves the volume.
struct BrokenVolumeCreate;

impl SagaCase for BrokenVolumeCreate {
    type Saga = ForgetUndo<VolumeCreate>;
    const PODS: usize = 1;

    async fn setup(&self, _: &mut SagaWorld) {}

    async fn plan(&self, w: &SagaWorld) -> Option<Self::Saga> {
        let inner = VolumeFromImage.plan(w).await?;
        Some(ForgetUndo { inner, forget: 3 })
    }
}

#[tokio::test]
async fn the_picture_sees_what_a_broken_undo_leaves_top_and_bottom() {
    let problems = testing::failures_unwind_to_before(&InPods(BrokenVolumeCreate)).await;
    assert_eq!(problems.len(), 1, "only failing after the volume was made: {problems:#?}");
    let report = &problems[0];
    assert!(report.starts_with("volume_create.volume failing After left a trace"), "{report}");
    assert!(report.contains("+ Pod1 volume.volumes {"), "the pod's volume: {report}");
    // The top row went (its undo is sound): the routing names an unknown ID.
    assert!(report.contains("+ top routing volume [\"?\""), "its routing: {report}");
}

#[tokio::test]
async fn the_picture_tells_worlds_alike_from_one_with_a_twin() {
    let sc = InPods(VolumeFromImage);
    let mut pictures = Vec::new();
    for twin in [false, false, true] {
        let w = sc.world().await;
        let mut p = Progress::start(sc.plan(&w).await.unwrap());
        assert_eq!(execute(sc.ctx(&w), &mut p, &Journal::None).await.unwrap(), SagaOutcome::Done);
        if twin {
            // A second volume in the pod named after the same top ID, as a
            // create would make that did not look for an earlier attempt's.
            let pod = w.w.app.store().pod_list().await.unwrap().pop().unwrap();
            let s = w.w.app.pod_project_session(&pod, "demo-project").await.unwrap();
            let body = json!({"volume": {"name": p.state.top_id, "size": 1}});
            let post =
                PodRequest::new(ServiceType::BlockStorage, reqwest::Method::POST, "/volumes");
            s.call(&post.with_body(body)).await.unwrap();
        }
        pictures.push(picture(&w.w, Against::Uninterrupted).await);
    }
    assert_eq!(pictures[0], pictures[1], "two worlds made alike, all IDs different");
    assert_ne!(pictures[0], pictures[2]);
    let twins = pictures[2].lines("volume.volumes");
    assert_eq!(twins.len(), 2, "{twins:#?}");
    assert!(twins.iter().all(|t| t.contains(r#""name":"<volume v>""#)), "{twins:#?}");
}

/// Run a fresh plan of the saga in `w` with every pod failing `op` once
/// (a 500): the saga pauses there. Returns the progress it saved, as the
/// job row would hold it.
async fn paused_by<C: SagaCase>(sc: &InPods<C>, w: &SagaWorld, op: &str) -> Progress<C::Saga> {
    for pod in &w.w.pods {
        pod.control().add_fault(FaultRule { count: Some(1), ..FaultRule::error(op, 500) });
    }
    let recorder = Recorder::default();
    let mut p = Progress::start(sc.plan(w).await.unwrap());
    let outcome = execute(sc.ctx(w), &mut p, &Journal::Log(&recorder)).await.unwrap();
    assert!(matches!(outcome, SagaOutcome::Paused { .. }), "{op}: {outcome:?}");
    serde_json::from_value(recorder.last().unwrap()).unwrap()
}

/// A picture of a world where the saga ran to its end, undisturbed.
async fn uninterrupted<C: SagaCase>(sc: &InPods<C>) -> saga_world::Picture {
    let w = sc.world().await;
    let mut p = Progress::start(sc.plan(&w).await.unwrap());
    assert_eq!(execute(sc.ctx(&w), &mut p, &Journal::None).await.unwrap(), SagaOutcome::Done);
    picture(&w.w, Against::Uninterrupted).await
}

/// The pod fails once while the gateway waits for the server's volume to
/// go: the saga pauses, and the job runner's next attempt, from the saved
/// progress, must still forget the volume, though by then the server is
/// gone from the pod and cannot say which volumes it had.
#[tokio::test]
async fn server_delete_paused_while_its_volume_goes_forgets_it_when_resumed() {
    let sc = InPods(DeleteServerAndItsVolume);
    let reference = uninterrupted(&sc).await;
    let mut w = sc.world().await;
    let mut saved = paused_by(&sc, &w, "volume.volume_show").await;
    sc.restart(&mut w);
    assert_eq!(execute(sc.ctx(&w), &mut saved, &Journal::None).await.unwrap(), SagaOutcome::Done);
    let after = picture(&w.w, Against::Uninterrupted).await;
    assert!(after == reference, "{}", testing::diff(&reference, &after));
}

/// The pod fails once to take the image's bytes while the image is copied
/// for a volume: the job runner's retry makes one finished copy (not a
/// second beside a queued one), and an API call, which unwinds at once,
/// leaves no queued copy behind.
#[tokio::test]
async fn an_image_copy_that_fails_half_way_is_not_left_in_the_pod() {
    let sc = InPods(VolumeFromImage);
    let reference = uninterrupted(&sc).await;
    let mut w = sc.world().await;
    let mut saved = paused_by(&sc, &w, "image.image_upload").await;
    sc.restart(&mut w);
    assert_eq!(execute(sc.ctx(&w), &mut saved, &Journal::None).await.unwrap(), SagaOutcome::Done);
    let after = picture(&w.w, Against::Uninterrupted).await;
    assert!(after == reference, "resumed: {}", testing::diff(&reference, &after));

    let w = sc.world().await;
    let before = picture(&w.w, Against::Before).await;
    let mut progress = paused_by(&sc, &w, "image.image_upload").await;
    progress.abandon("an API call does not wait");
    let outcome = execute(sc.ctx(&w), &mut progress, &Journal::None).await.unwrap();
    assert!(matches!(outcome, SagaOutcome::Unwound { .. }), "{outcome:?}");
    let after = picture(&w.w, Against::Before).await;
    assert!(after == before, "unwound: {}", testing::diff(&before, &after));
}

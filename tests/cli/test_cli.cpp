// The `pointrt` command line: exit codes and messages, run as a user would run it.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "cli/cli_run.h"
#include "support/test_data.h"

namespace {

using pointrt::testing::CliRun;
using pointrt::testing::contains;
using pointrt::testing::read_text;
using pointrt::testing::run_cli;

}  // namespace

TEST(Cli, VersionAndHelp) {
  const CliRun v = run_cli("--version");
  EXPECT_EQ(v.code, 0);
  EXPECT_TRUE(contains(v.output, "pointrt 0.")) << v.output;
  const CliRun h = run_cli("info --help");
  EXPECT_EQ(h.code, 0);
  EXPECT_TRUE(contains(h.output, "--format")) << h.output;
  EXPECT_TRUE(contains(h.output, "--preprocess")) << h.output;
}

TEST(Cli, NoSubcommandIsAnError) {
  const CliRun r = run_cli("");
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(contains(r.output, "subcommand")) << r.output;
}

TEST(Cli, InfoOnTheSampleFrame) {
  const CliRun r = run_cli("info --preprocess '" + pointrt::testing::source_path("data/sample/kitti_000003.bin") + "'");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "points     18911")) << r.output;
  EXPECT_TRUE(contains(r.output, "fields     x y z intensity")) << r.output;
  EXPECT_TRUE(contains(r.output, "x          [2.51, 79.72]")) << r.output;
  EXPECT_TRUE(contains(r.output, "sampled 16384 rows: 16384 real points, 0 repeats")) << r.output;
}

TEST(Cli, InfoOnEverySharedFormat) {
  POINTRT_REQUIRE_SHARED_DATA();
  const std::string d = pointrt::testing::shared_data_dir();
  const CliRun r = run_cli("info '" + d + "/kitti/training/velodyne/000000.bin' '" + d +
                        "/nuscenes/n015-2018-07-24-11-22-45+0800__LIDAR_TOP__1532402927647951.pcd.bin'");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "points     115384")) << r.output;
  EXPECT_TRUE(contains(r.output, "points     34688")) << r.output;
  const CliRun w = run_cli("info --format waymo '" + d + "/waymo/seq_0_frame_100.bin'");
  ASSERT_EQ(w.code, 0) << w.output;
  EXPECT_TRUE(contains(w.output, "elongation")) << w.output;
}

TEST(Cli, BadFileGivesAnErrorNamingItAndNonZeroExit) {
  const std::string dir = pointrt::testing::make_temp_dir("cli");
  const std::string bad = dir + "/broken.bin";
  pointrt::testing::write_file(bad, std::string(10, 'x'));
  const std::string good = pointrt::testing::source_path("data/sample/kitti_000003.bin");
  const CliRun r = run_cli("info '" + bad + "' '" + good + "'");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(contains(r.output, "error: " + bad + ": size 10 bytes is not a multiple")) << r.output;
  EXPECT_TRUE(contains(r.output, "points     18911")) << "the other file is still reported: " << r.output;
}

TEST(Cli, MissingFileAndBadOptionsAreRefused) {
  const CliRun missing = run_cli("info /nonexistent/frame.bin");
  EXPECT_NE(missing.code, 0);
  EXPECT_TRUE(contains(missing.output, "/nonexistent/frame.bin")) << missing.output;
  const std::string good = pointrt::testing::source_path("data/sample/kitti_000003.bin");
  const CliRun fmt = run_cli("info --format las '" + good + "'");
  EXPECT_EQ(fmt.code, 1);
  EXPECT_TRUE(contains(fmt.output, "unknown point-cloud format")) << fmt.output;
  const CliRun n = run_cli("info --preprocess --num-points 0 '" + good + "'");
  EXPECT_NE(n.code, 0);
}

// ---- model commands (CPU; the shipped config with its seeded random weights) ---------------------------------

namespace {

std::string q(const std::string& s) { return "'" + s + "'"; }
std::string model_args() {
  return "--config " + q(pointrt::testing::source_path("models/iassd_hvcsx2_kitti.json")) + " --weights " +
         q(pointrt::testing::source_path("models/iassd_hvcsx2_kitti_random.safetensors"));
}
std::string sample() { return q(pointrt::testing::source_path("data/sample/kitti_000003.bin")); }

}  // namespace

TEST(CliDetect, SampleFrameOnCpuPrintsJson) {
  const CliRun r = run_cli("detect " + model_args() + " --device cpu " + sample());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "\"detections\": [")) << r.output;
  EXPECT_TRUE(contains(r.output, "\"class\": \"")) << r.output;
  EXPECT_TRUE(contains(r.output, "1 frames,")) << r.output;
  EXPECT_TRUE(contains(r.output, "frames/s")) << r.output;
}

TEST(CliDetect, BuildInspectThenKittiLabelsForADirectory) {
  const std::string dir = pointrt::testing::make_temp_dir("cli_detect");
  const std::string plan = dir + "/m.ptplan";
  const CliRun b = run_cli("build " + model_args() + " --device cpu --max-batch 2 --out " + q(plan));
  ASSERT_EQ(b.code, 0) << b.output;
  EXPECT_TRUE(contains(b.output, "for cpu (max batch 2)")) << b.output;
  const CliRun i = run_cli("inspect " + q(plan));
  ASSERT_EQ(i.code, 0) << i.output;
  EXPECT_TRUE(contains(i.output, "vote_sa.grouper1.mlp")) << i.output;
  EXPECT_TRUE(contains(i.output, "mlp 259->256->512->1024")) << i.output;
  EXPECT_TRUE(contains(i.output, "max batch   2")) << i.output;
  const CliRun tf = run_cli("build " + model_args() + " --device cpu --precision tf32x3 --out " + q(dir + "/tf.ptplan"));
  ASSERT_EQ(tf.code, 0) << tf.output;
  EXPECT_TRUE(contains(run_cli("inspect " + q(dir + "/tf.ptplan")).output, "[tf32x3] mlp 259->256->512->1024"));
  const CliRun badp = run_cli("build " + model_args() + " --precision int4 --out " + q(dir + "/x.ptplan"));
  EXPECT_NE(badp.code, 0);
  const CliRun ij = run_cli("inspect --json " + q(plan));
  EXPECT_TRUE(contains(ij.output, "\"kind\": \"sa_mlp\"")) << ij.output;

  const std::string frames = dir + "/frames";
  const std::string bytes = read_text(pointrt::testing::source_path("data/sample/kitti_000003.bin"));
  std::filesystem::create_directories(frames);
  pointrt::testing::write_file(frames + "/a.bin", bytes);
  pointrt::testing::write_file(frames + "/b.bin", bytes);
  const std::string out = dir + "/labels";
  const CliRun d = run_cli("detect --plan " + q(plan) + " " + q(frames) + " --format kitti --calib " +
                           q(pointrt::testing::source_path("data/sample/kitti_000003_calib.txt")) + " --out " + q(out));
  ASSERT_EQ(d.code, 0) << d.output;
  EXPECT_TRUE(contains(d.output, "2 frames,")) << d.output;
  const std::string a = read_text(out + "/a.txt"), bb = read_text(out + "/b.txt");
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(a, bb) << "the same frame gives the same labels";
  // 16 columns per line (with score), a known class first
  const std::string first = a.substr(0, a.find('\n'));
  int columns = 1;
  for (char c : first) columns += c == ' ';
  EXPECT_EQ(columns, 16) << first;
  EXPECT_TRUE(first.rfind("Car ", 0) == 0 || first.rfind("Pedestrian ", 0) == 0 || first.rfind("Cyclist ", 0) == 0) << first;

  // a glob over the same files works too
  const CliRun g = run_cli("detect --plan " + q(plan) + " '" + frames + "/*.bin' --out " + q(dir + "/json"));
  ASSERT_EQ(g.code, 0) << g.output;
  EXPECT_TRUE(contains(read_text(dir + "/json/b.json"), "\"detections\"")) << g.output;
}

TEST(CliDetect, BadInputsAreClearErrors) {
  const std::string dir = pointrt::testing::make_temp_dir("cli_bad");
  const CliRun nocalib = run_cli("detect " + model_args() + " --device cpu --format kitti " + sample());
  EXPECT_EQ(nocalib.code, 1);
  EXPECT_TRUE(contains(nocalib.output, "error: --format kitti: KITTI labels are in the camera frame and need --calib"))
      << nocalib.output;
  const CliRun nomodel = run_cli("detect " + sample());
  EXPECT_EQ(nomodel.code, 1);
  EXPECT_TRUE(contains(nomodel.output, "a model is needed: --plan FILE, or --config FILE --weights FILE")) << nomodel.output;
  const CliRun missing = run_cli("detect " + model_args() + " --device cpu " + q(dir + "/nope.bin"));
  EXPECT_EQ(missing.code, 1);
  EXPECT_TRUE(contains(missing.output, "nope.bin: no such file or directory")) << missing.output;
  const CliRun noglob = run_cli("detect " + model_args() + " --device cpu '" + dir + "/*.bin'");
  EXPECT_EQ(noglob.code, 1);
  EXPECT_TRUE(contains(noglob.output, "pattern matches no file")) << noglob.output;
  pointrt::testing::write_file(dir + "/fake.ptplan", "PTRTPLAN and then garbage that is long enough to pass the size check");
  const CliRun fake = run_cli("detect --plan " + q(dir + "/fake.ptplan") + " " + sample());
  EXPECT_EQ(fake.code, 1);
  EXPECT_TRUE(contains(fake.output, "fake.ptplan: ")) << fake.output;
  pointrt::testing::write_file(dir + "/other.ptplan", std::string(100, 'x'));
  const CliRun other = run_cli("inspect " + q(dir + "/other.ptplan"));
  EXPECT_EQ(other.code, 1);
  EXPECT_TRUE(contains(other.output, "not a pointrt plan")) << other.output;
  pointrt::testing::write_file(dir + "/odd.bin", std::string(10, 'x'));
  const CliRun odd = run_cli("detect " + model_args() + " --device cpu " + q(dir + "/odd.bin"));
  EXPECT_EQ(odd.code, 1);
  EXPECT_TRUE(contains(odd.output, "odd.bin: size 10 bytes is not a multiple")) << odd.output;
  const CliRun badweights = run_cli("detect --config " + q(pointrt::testing::source_path("models/iassd_hvcsx2_kitti.json")) +
                                    " --weights " + q(dir + "/odd.bin") + " --device cpu " + sample());
  EXPECT_EQ(badweights.code, 1);
  EXPECT_TRUE(contains(badweights.output, "odd.bin")) << badweights.output;
}

namespace {

// Runs detect on one frame with `options`, results into `out_dir`; returns the frame's JSON from "detections" on
// (the "source" line names the input file, which differs between copies), or "" when the run failed.
std::string detect_json(const std::string& options, const std::string& frame, const std::string& out_dir) {
  const CliRun r = run_cli("detect " + model_args() + " --device cpu " + options + " --out " + q(out_dir) + " " + q(frame));
  EXPECT_EQ(r.code, 0) << r.output;
  const std::string text = read_text(out_dir + "/" + std::filesystem::path(frame).stem().string() + ".json");
  const std::size_t at = text.find("\"detections\"");
  return at == std::string::npos ? std::string() : text.substr(at);
}

}  // namespace

TEST(CliDetect, FovNeedsCalib) {
  const CliRun r = run_cli("detect " + model_args() + " --device cpu --fov " + sample());
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "error: --fov: ")) << r.output;
  EXPECT_TRUE(contains(r.output, "needs --calib")) << r.output;
  const CliRun h = run_cli("detect --help");
  EXPECT_TRUE(contains(h.output, "--fov")) << h.output;
  EXPECT_TRUE(contains(h.output, "--presampled")) << h.output;
  EXPECT_TRUE(contains(h.output, "pointrt_train.predict --dump-inputs")) << h.output;
}

TEST(CliDetect, FovDropsThePointsOutsideTheCameraView) {
  // The sample is already reduced to the camera's view; the same frame with extra points that are in the model's
  // range but outside the image (beside and far above the camera's view) gives, with --fov, exactly the sample's
  // boxes.
  const std::string dir = pointrt::testing::make_temp_dir("cli_fov");
  const std::string sample_bin = pointrt::testing::source_path("data/sample/kitti_000003.bin");
  std::string bytes = read_text(sample_bin);
  ASSERT_EQ(bytes.size(), 18911u * 16u);
  for (int i = 0; i < 3000; ++i) {
    const float x = 5.f + 0.03f * static_cast<float>(i % 1000);  // 5 .. 35 m ahead
    // the camera sees |y| < 0.85 x and z < ~0.24 x: left, right, above
    const float row[4] = {x, i < 1000 ? x + 2.f : (i < 2000 ? -x - 2.f : 0.f), i < 2000 ? -1.f : x, 0.5f};
    bytes.append(reinterpret_cast<const char*>(row), sizeof(row));
  }
  pointrt::testing::write_file(dir + "/wide.bin", bytes);
  const std::string calib = q(pointrt::testing::source_path("data/sample/kitti_000003_calib.txt"));
  const std::string plain = detect_json("", sample_bin, dir + "/plain");
  ASSERT_FALSE(plain.empty());
  EXPECT_EQ(detect_json("--fov --calib " + calib, dir + "/wide.bin", dir + "/fov"), plain);
  EXPECT_EQ(detect_json("--fov --calib " + calib, sample_bin, dir + "/fov_sample"), plain) << "nothing to drop";
  EXPECT_NE(detect_json("", dir + "/wide.bin", dir + "/nofov"), plain) << "without --fov the extra points count";
  // A calib directory without the frame's file is an error naming the frame.
  const CliRun nocal = run_cli("detect " + model_args() + " --device cpu --fov --calib " + q(dir) + " " + q(dir + "/wide.bin"));
  EXPECT_EQ(nocal.code, 1) << nocal.output;
  EXPECT_TRUE(contains(nocal.output, "wide.bin: no calibration file")) << nocal.output;
}

TEST(CliDetect, PresampledTakesTheRowsAsTheyAreAndRefusesAnotherCount) {
  const std::string dir = pointrt::testing::make_temp_dir("cli_presampled");
  // The sample frame has 18911 points, not the model's 16384.
  const CliRun wrong = run_cli("detect " + model_args() + " --device cpu --presampled " + sample());
  EXPECT_EQ(wrong.code, 1) << wrong.output;
  EXPECT_TRUE(contains(wrong.output, "error: ")) << wrong.output;
  EXPECT_TRUE(contains(wrong.output, "kitti_000003.bin")) << wrong.output;
  EXPECT_TRUE(contains(wrong.output, "expected 16384 points, got 18911")) << wrong.output;

  // Its first 16384 rows are a presampled frame: the seed plays no part, and without --presampled the rows are
  // cropped, sampled and shuffled (other boxes).
  const std::string bytes = read_text(pointrt::testing::source_path("data/sample/kitti_000003.bin"));
  const std::string frame = dir + "/pre.bin";
  pointrt::testing::write_file(frame, bytes.substr(0, 16384u * 16u));
  const std::string a = detect_json("--presampled --seed 1", frame, dir + "/a");
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(detect_json("--presampled --seed 2", frame, dir + "/b"), a);
  EXPECT_NE(detect_json("--seed 1", frame, dir + "/s1"), detect_json("--seed 2", frame, dir + "/s2"))
      << "without --presampled the seed shuffles";
}

TEST(CliBench, BenchAndProfileOnCpu) {
  const std::string dir = pointrt::testing::make_temp_dir("cli_bench");
  const CliRun b = run_cli("bench " + model_args() + " --device cpu --iterations 2 --warmup 1 --json " +
                           q(dir + "/b.json") + " " + sample());
  ASSERT_EQ(b.code, 0) << b.output;
  EXPECT_TRUE(contains(b.output, "latency     p50 ")) << b.output;
  EXPECT_TRUE(contains(b.output, "throughput")) << b.output;
  EXPECT_TRUE(contains(b.output, "memory ")) << b.output;
  EXPECT_TRUE(contains(read_text(dir + "/b.json"), "\"frames_per_s\"")) << b.output;
  const CliRun p = run_cli("profile " + model_args() + " --device cpu --iterations 1 --warmup 0 --json " +
                           q(dir + "/p.json") + " " + sample());
  ASSERT_EQ(p.code, 0) << p.output;
  EXPECT_TRUE(contains(p.output, "| name | layers | average (ms) | median (ms) | percentage (%) |")) << p.output;
  for (const char* g : {"| HAVSampling | 2 |", "| BallQuery | 8 |", "| Grouping+MLP | 11 |", "| TopK | 4 |",
                        "| Vote | 4 |", "| Head | 4 |", "| NMSBEV | 1 |", "| Total | 38 |"}) {
    EXPECT_TRUE(contains(p.output, g)) << g << "\n" << p.output;
  }
  EXPECT_TRUE(contains(read_text(dir + "/p.json"), "\"name\": \"vote_sa.grouper1.mlp\"")) << p.output;
}

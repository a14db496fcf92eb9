// The `pointrt` command line: exit codes and messages, run as a user would run it.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <string>

#include "support/test_data.h"

namespace {

struct CliRun {
  int code = -1;
  std::string output;  // stdout and stderr together
};

CliRun run_cli(const std::string& args) {
  const std::string cmd = std::string("'") + POINTRT_CLI_PATH + "' " + args + " 2>&1";
  CliRun r;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) return r;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) r.output.append(buf, n);
  const int status = ::pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

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

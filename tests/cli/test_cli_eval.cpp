// `pointrt eval`: KITTI AP of label directories, run as a user would run it.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/cli_run.h"
#include "support/test_data.h"

namespace {

using pointrt::testing::CliRun;
using pointrt::testing::contains;
using pointrt::testing::read_text;
using pointrt::testing::run_cli;

// Label text with a score column appended to every line but DontCare (which predictions do not contain).
std::string with_scores(const std::string& text) {
  std::istringstream in(text);
  std::string line, out;
  while (std::getline(in, line)) {
    if (line.empty() || line.rfind("DontCare", 0) == 0) continue;
    out += line + " 0.950000\n";
  }
  return out;
}

// gt/ and pred/ under a temp dir: the shared labels 000000..000005 copied 41 times (so that every class and
// difficulty with ground truth has at least 41 objects, which full AP needs under the KITTI sampling).
std::string make_label_dirs() {
  const std::string root = pointrt::testing::make_temp_dir("cli_eval");
  std::filesystem::create_directories(root + "/gt");
  std::filesystem::create_directories(root + "/pred");
  for (int c = 0; c < 41; ++c) {
    for (int i = 0; i <= 5; ++i) {
      char src[64], dst[32];
      std::snprintf(src, sizeof(src), "/kitti/training/label_2/%06d.txt", i);
      std::snprintf(dst, sizeof(dst), "/%06d.txt", c * 10 + i);
      const std::string text = read_text(pointrt::testing::shared_data_dir() + src);
      pointrt::testing::write_file(root + "/gt" + dst, text);
      pointrt::testing::write_file(root + "/pred" + dst, with_scores(text));
    }
  }
  return root;
}

// The cells of the table rows (| class | metric | 6 APs | GT counts |).
std::vector<std::vector<std::string>> table_rows(const std::string& output) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(output);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("| ", 0) != 0 || contains(line, "| class |")) continue;
    std::vector<std::string> cells;
    std::istringstream cols(line.substr(1));
    std::string cell;
    while (std::getline(cols, cell, '|')) {
      const auto b = cell.find_first_not_of(' '), e = cell.find_last_not_of(' ');
      if (b != std::string::npos) cells.push_back(cell.substr(b, e - b + 1));
    }
    rows.push_back(cells);
  }
  return rows;
}

}  // namespace

TEST(CliEval, PerfectPredictionsOnTheSharedLabelsGiveFullAp) {
  POINTRT_REQUIRE_SHARED_DATA();
  const std::string root = make_label_dirs();
  const CliRun r = run_cli("eval --pred '" + root + "/pred' --gt '" + root + "/gt' --json '" + root + "/ap.json'");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "KITTI evaluation: 246 frames (0 without a prediction file)")) << r.output;
  const auto rows = table_rows(r.output);
  ASSERT_EQ(rows.size(), 9u) << r.output;  // 3 classes x bbox/bev/3d
  int full = 0;
  for (const auto& row : rows) {
    ASSERT_EQ(row.size(), 9u) << r.output;
    for (std::size_t i = 2; i < 8; ++i) {
      EXPECT_TRUE(row[i] == "100.00" || row[i] == "-") << row[0] << " " << row[1] << ": " << row[i];
      full += row[i] == "100.00";
    }
  }
  EXPECT_TRUE(contains(r.output, "| Car | 3d | 100.00 | 100.00 | 100.00 | 100.00 | 100.00 | 100.00 |")) << r.output;
  EXPECT_GE(full, 30);

  const nlohmann::json j = nlohmann::json::parse(read_text(root + "/ap.json"));
  EXPECT_EQ(j.at("frames").get<int>(), 246);
  ASSERT_EQ(j.at("results").size(), 27u);
  for (const auto& row : j.at("results")) {
    if (row.at("num_gt").get<int>() == 0) {
      EXPECT_TRUE(row.at("ap_r40").is_null());
    } else {
      EXPECT_DOUBLE_EQ(row.at("ap_r40").get<double>(), 100.0) << row.dump();
      EXPECT_DOUBLE_EQ(row.at("ap_r11").get<double>(), 100.0) << row.dump();
    }
  }
  EXPECT_DOUBLE_EQ(j.at("min_overlap").at("Car").at("3d").get<double>(), 0.7);

  // --classes picks and orders the classes.
  const CliRun p = run_cli("eval --pred '" + root + "/pred' --gt '" + root + "/gt' --classes Pedestrian");
  ASSERT_EQ(p.code, 0) << p.output;
  EXPECT_EQ(table_rows(p.output).size(), 3u) << p.output;
  EXPECT_FALSE(contains(p.output, "| Car |")) << p.output;
}

TEST(CliEval, MissingPredictionFilesLowerAp) {
  POINTRT_REQUIRE_SHARED_DATA();
  const std::string root = make_label_dirs();
  for (int c = 0; c < 41; c += 2) {
    char name[32];
    std::snprintf(name, sizeof(name), "/pred/%06d.txt", c * 10 + 2);
    std::filesystem::remove(root + name);
  }
  const CliRun r = run_cli("eval --pred '" + root + "/pred' --gt '" + root + "/gt'");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "(21 without a prediction file)")) << r.output;
  EXPECT_FALSE(contains(r.output, "| Car | 3d | 100.00 | 100.00 | 100.00 |")) << r.output;
}

TEST(CliEval, BadInputGivesAnErrorAndExitOne) {
  const std::string root = pointrt::testing::make_temp_dir("cli_eval_bad");
  std::filesystem::create_directories(root + "/gt");
  std::filesystem::create_directories(root + "/pred");
  const std::string line = "Car 0.00 0 0.0 100.00 100.00 200.00 200.00 1.50 2.00 4.00 0.00 1.50 10.00 0.00";
  pointrt::testing::write_file(root + "/gt/000000.txt", line + "\n");

  CliRun r = run_cli("eval --pred '" + root + "/nothing' --gt '" + root + "/gt'");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "error: " + root + "/nothing: prediction directory does not exist")) << r.output;

  r = run_cli("eval --pred '" + root + "/pred' --gt '" + root + "/missing'");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "error: " + root + "/missing: ground-truth directory does not exist")) << r.output;

  pointrt::testing::write_file(root + "/pred/000000.txt", line + " 0.9\nCar 0.00 0 zero\n");
  r = run_cli("eval --pred '" + root + "/pred' --gt '" + root + "/gt'");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "error: " + root + "/pred/000000.txt:2: expected 15 or 16 columns")) << r.output;

  pointrt::testing::write_file(root + "/pred/000000.txt", line + "\n");
  r = run_cli("eval --pred '" + root + "/pred' --gt '" + root + "/gt'");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "error: " + root + "/pred/000000.txt:1:")) << r.output;
  EXPECT_TRUE(contains(r.output, "16 columns")) << r.output;

  pointrt::testing::write_file(root + "/pred/000000.txt", line + " 0.9\n");
  r = run_cli("eval --pred '" + root + "/pred' --gt '" + root + "/gt' --classes Tram");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "error: KITTI evaluation: class Tram: no minimum overlap")) << r.output;

  r = run_cli("eval --pred '" + root + "/pred' --gt '" + root + "/gt' --json '" + root + "/no/such/dir/ap.json'");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "error: " + root + "/no/such/dir/ap.json: cannot open for writing")) << r.output;

  r = run_cli("eval --gt '" + root + "/gt'");
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(contains(r.output, "--pred")) << r.output;
}

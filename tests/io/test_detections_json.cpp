// detections_to_json: the documented layout, parsed back with nlohmann::json.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pointrt/detection.h"
#include "pointrt/error.h"

namespace pointrt {
namespace {

Detection make(int label, float score, Box3D box) {
  Detection d;
  d.label = label;
  d.score = score;
  d.box = box;
  return d;
}

TEST(DetectionsJson, LayoutAndValues) {
  const std::vector<std::string> classes = {"Car", "Pedestrian", "Cyclist"};
  const std::vector<Detection> dets = {
      make(1, 0.9f, Box3D{10.5f, -2.25f, -0.8f, 3.9f, 1.6f, 1.5f, 0.3f}),
      make(3, 0.125f, Box3D{5.f, 1.f, -1.f, 1.8f, 0.6f, 1.7f, -3.1f}),
      make(4, 0.5f, Box3D{}),   // beyond class_names
      make(0, 0.25f, Box3D{}),  // labels start at 1
  };
  const std::string text = detections_to_json(dets, classes, "data/000003.bin");
  const nlohmann::json j = nlohmann::json::parse(text);

  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j.size(), 2u);
  EXPECT_EQ(j.at("source"), "data/000003.bin");
  const nlohmann::json& list = j.at("detections");
  ASSERT_TRUE(list.is_array());
  ASSERT_EQ(list.size(), 4u);

  const nlohmann::json& d0 = list[0];
  EXPECT_EQ(d0.size(), 4u);
  EXPECT_TRUE(d0.at("label").is_number_integer());
  EXPECT_EQ(d0.at("label"), 1);
  EXPECT_EQ(d0.at("class"), "Car");
  EXPECT_TRUE(d0.at("score").is_number_float());
  EXPECT_EQ(d0.at("score").get<float>(), 0.9f);
  const nlohmann::json& b0 = d0.at("box");
  EXPECT_EQ(b0.size(), 7u);
  EXPECT_EQ(b0.at("x").get<float>(), 10.5f);
  EXPECT_EQ(b0.at("y").get<float>(), -2.25f);
  EXPECT_EQ(b0.at("z").get<float>(), -0.8f);
  EXPECT_EQ(b0.at("dx").get<float>(), 3.9f);
  EXPECT_EQ(b0.at("dy").get<float>(), 1.6f);
  EXPECT_EQ(b0.at("dz").get<float>(), 1.5f);
  EXPECT_EQ(b0.at("heading").get<float>(), 0.3f);

  EXPECT_EQ(list[1].at("class"), "Cyclist");
  EXPECT_EQ(list[1].at("score").get<float>(), 0.125f);
  EXPECT_EQ(list[1].at("box").at("heading").get<float>(), -3.1f);
  EXPECT_EQ(list[2].at("label"), 4);
  EXPECT_EQ(list[2].at("class"), "");
  EXPECT_EQ(list[3].at("label"), 0);
  EXPECT_EQ(list[3].at("class"), "");

  // Keys in the documented order, and floats written as their shortest decimal form.
  EXPECT_LT(text.find("\"source\""), text.find("\"detections\""));
  EXPECT_LT(text.find("\"label\""), text.find("\"class\""));
  EXPECT_LT(text.find("\"class\""), text.find("\"score\""));
  EXPECT_LT(text.find("\"score\""), text.find("\"box\""));
  EXPECT_NE(text.find("0.9,"), std::string::npos) << text;
  EXPECT_EQ(text.find("0.899999"), std::string::npos) << text;
}

TEST(DetectionsJson, EmptyListAndSpecialCharacters) {
  const std::string text = detections_to_json({}, {}, "dir with \"quotes\"\\frame.bin");
  const nlohmann::json j = nlohmann::json::parse(text);
  EXPECT_EQ(j.at("source"), "dir with \"quotes\"\\frame.bin");
  EXPECT_TRUE(j.at("detections").is_array());
  EXPECT_TRUE(j.at("detections").empty());
}

TEST(DetectionsJson, NonFiniteValueIsRefused) {
  const std::vector<Detection> dets = {make(1, std::nanf(""), Box3D{})};
  try {
    detections_to_json(dets, {"Car"}, "frame.bin");
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("frame.bin"), std::string::npos) << message;
    EXPECT_NE(message.find("detection 0"), std::string::npos) << message;
    EXPECT_NE(message.find("non-finite"), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace pointrt

// Where an image query's dense attention mass goes: the partition of its base-mask row (README, "Mask semantics",
// rules 1-3) that head calibration needs. Shared by every backend's attention-mass pass (host and device).
//
// The four coarse buckets calibration reports are unions of these: (a) own image = Self + OwnSink + OwnOther,
// (b) sinks outside the own image = TextSink + ImageSink, (c) text = Text, (d) other images = OtherImage.
// The finer split is what makes every category's retained mass exact:
//  - a global sink that is a text token (TextSink) is kept by intra-image heads through textKeys, although it is a
//    sink outside q's image; so it cannot be merged into Text nor hidden inside (b);
//  - a sink inside q's own image (OwnSink: the image's start token, or a global sink when the image opens the
//    sequence) is kept by both sink and intra-image heads, so it counts as own image and is also reported apart;
//  - q itself (Self) is kept by every category (rule 5), including sink heads that drop the rest of the own image.
#pragma once
#include <cstdint>

#include "mask_rule.h"

namespace bs {

// Numeric values are part of the ABI (the TS layer reads per-token and per-head masses in this order).
enum class MassBucket : uint8_t {
  Self = 0,        // k == q
  OwnSink = 1,     // a sink in q's own image, other than q
  OwnOther = 2,    // a non-sink token of q's own image, other than q
  TextSink = 3,    // a text token that is a sink (the sequence's global sinks)
  Text = 4,        // a non-sink text token
  ImageSink = 5,   // a sink of another image
  OtherImage = 6,  // a non-sink token of another image
};
constexpr int kMassBuckets = 7;

// The bucket of a visible key k for an image query q of image qImage (qImage >= 0). Excludes Self: the caller
// compares token indices, which this per-key classification does not know.
BS_HD MassBucket mass_bucket_of_key(int32_t qImage, int32_t kImage, bool kSink) {
  if (kImage == qImage) return kSink ? MassBucket::OwnSink : MassBucket::OwnOther;
  if (kImage < 0) return kSink ? MassBucket::TextSink : MassBucket::Text;
  return kSink ? MassBucket::ImageSink : MassBucket::OtherImage;
}

}  // namespace bs

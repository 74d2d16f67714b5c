// Which keys of a (category, query block) every row of the block sees alike — decided by the element rule itself,
// evaluated once per key class — and which need the rule row by row.
//
// A query block's rows lie in one segment (plan.cpp never lets a block straddle one), so they share their image id.
// For a key before the block's first row (k < q0) the rule's verdict then depends only on the key's class — text, a
// token of the rows' own image, or of another image; a sink or not — unless the sliding window's edge crosses the
// block (some rows see the key, later ones are past the window). Likewise for a key after its last row (k >= q1:
// only bidirectional images make such keys visible, to all rows or none). Only keys inside the block and keys in the
// window's band need the rule per row: at most blockM + blockM per block, so what a backend stores per row stays
// O(numTokens) however many scattered sinks and text tokens a plan gathers.
#pragma once
#include <cstdint>

#include "mask_rule.h"

namespace bs {

class BlockVerdicts {
 public:
  enum Kind : uint8_t { Hidden = 0, Visible = 1, PerRow = 2 };

  BS_HD BlockVerdicts(HeadCategory c, const MaskOptions& o, int32_t q0, int32_t q1, int32_t qImage)
      : q0_(q0), q1_(q1), window_(o.window) {
    MaskOptions noWindow = o;
    noWindow.window = 0;  // the window is decided per key below
    const int32_t images[3] = {-1, qImage, qImage >= 0 ? qImage + 1 : 0};  // text, own image, another image
    for (int cls = 0; cls < 3; ++cls) {
      if (cls == 1 && qImage < 0) {  // text rows have no own image: the class cannot occur
        past_[2] = past_[3] = future_[2] = future_[3] = false;
        continue;
      }
      for (int sink = 0; sink < 2; ++sink) {
        past_[cls * 2 + sink] = mask_visible(c, noWindow, q0, q0 - 1, qImage, images[cls], sink != 0);
        future_[cls * 2 + sink] = mask_visible(c, noWindow, q0, q1, qImage, images[cls], sink != 0);
      }
    }
    qImage_ = qImage;
  }

  BS_HD Kind kind(int32_t k, int32_t kImage, bool kSink) const {
    if (k >= q0_ && k < q1_) return PerRow;
    const int cls = kImage < 0 ? 0 : kImage == qImage_ ? 1 : 2;
    if (k >= q1_) return future_[cls * 2 + kSink] ? Visible : Hidden;
    if (window_ > 0 && !kSink) {
      if (q0_ - k >= window_) return Hidden;    // older than the window for every row
      if (q1_ - 1 - k >= window_) return PerRow;  // the window's edge crosses the block
    }
    return past_[cls * 2 + kSink] ? Visible : Hidden;
  }

 private:
  int32_t q0_, q1_, window_, qImage_ = -1;
  bool past_[6] = {}, future_[6] = {};
};

}  // namespace bs

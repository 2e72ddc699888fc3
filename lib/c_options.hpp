// The C API's options object (robustmq.h), filled by the setters (c_options.cpp) and read by
// robustmq_client_new() (c_api.cpp).
#pragma once

#include "robustmq/client.hpp"
#include "robustmq/robustmq.h"

struct robustmq_options {
  robustmq::Options o;
};

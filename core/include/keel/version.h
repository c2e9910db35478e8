/* SPDX-License-Identifier: MIT */
/* Keel's release, as the loader's and the core's first lines say it. */
#ifndef KEEL_VERSION_H
#define KEEL_VERSION_H

#define KEEL_VERSION "0.1.0"

#endif

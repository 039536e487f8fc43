/* SPDX-License-Identifier: MIT */
/*
 * replay.h — the capture source: records of one or more capture files
 * (the parts of one recording, in order) fed through the same pipeline
 * as live, with the /proc answers the live run recorded.  Offline: no
 * root, no BPF.
 */
#ifndef PYSEC_REPLAY_H
#define PYSEC_REPLAY_H

#include <json-c/json.h>
#include <stddef.h>

#include "emit.h"
#include "pipeline.h"

/* What replay found besides the records it fed (report uses them). */
struct pysec_replay_hooks {
	void (*header)(void *ctx, struct json_object *h, unsigned file);
	void (*alert)(void *ctx, const char *json, size_t len); /* as recorded live */
	void (*end)(void *ctx, struct json_object *e, unsigned file);
	void *ctx;
	/*
	 * Judge with this policy file (observe mode: replay acts on nothing)
	 * and match every audit event against it again; NULL: the policy
	 * and mode the capture was recorded with, as the live run judged.
	 */
	const char *policy;
};

enum pysec_replay_result {
	PYSEC_REPLAY_COMPLETE = 0, /* every file read to its end record */
	PYSEC_REPLAY_PARTIAL = 1,  /* a file stops early or is damaged: its intact prefix was fed */
	PYSEC_REPLAY_FAILED = 2,   /* nothing could be read (message printed) */
};

/*
 * Feed the files through pl; em (may be NULL) gets the recorded wall clock
 * and the live time of each loss.  Messages about where a file stops go to
 * stderr.  Finishes the pipeline.
 */
enum pysec_replay_result pysec_replay_files(char *const *paths, int n, struct pysec_pipeline *pl,
					    struct pysec_emitter *em,
					    const struct pysec_replay_hooks *hooks);

#endif

import { finishedAckSeq, type JobFinished, type JobOutput } from '../shared/protocol/index.ts';

/**
 * What a runner still owes the edge for one job: output frames not yet acked and, once the job ends, its
 * `job.finished`. Everything is kept until acked and resent after a reconnect; the edge drops duplicates by
 * seq. Memory is bounded by the job's output caps, since nothing past a cap is ever appended.
 */
export class JobJournal {
  readonly jobId: string;
  #nextSeq = 1;
  #acked = 0;
  #unacked: JobOutput[] = [];
  #finished: JobFinished | undefined;

  constructor(jobId: string) {
    this.jobId = jobId;
  }

  /** Records a chunk of output and returns its frame, numbered in order from 1. */
  append(stream: JobOutput['stream'], data: string): JobOutput {
    const frame: JobOutput = { type: 'job.output', jobId: this.jobId, seq: this.#nextSeq++, stream, data };
    this.#unacked.push(frame);
    return frame;
  }

  /** Records the end of the job; `lastSeq` is filled in from the output so far. */
  finish(result: Omit<JobFinished, 'type' | 'jobId' | 'lastSeq'>): JobFinished {
    this.#finished = { type: 'job.finished', jobId: this.jobId, lastSeq: this.#nextSeq - 1, ...result };
    return this.#finished;
  }

  /** The edge has stored everything up to `seq` (a finished job's result counts as lastSeq + 1). */
  ack(seq: number): void {
    if (seq <= this.#acked) return;
    this.#acked = seq;
    while (this.#unacked.length > 0 && this.#unacked[0]!.seq <= seq) this.#unacked.shift();
  }

  get lastSeq(): number {
    return this.#nextSeq - 1;
  }

  get finished(): JobFinished | undefined {
    return this.#finished;
  }

  /** Finished and fully acked: nothing more to send. */
  get settled(): boolean {
    return this.#finished !== undefined && this.#acked >= finishedAckSeq(this.#finished.lastSeq);
  }

  /** Frames to (re)send, in order: unacked output, then the result if the job has ended. */
  pending(): Array<JobOutput | JobFinished> {
    const frames: Array<JobOutput | JobFinished> = [...this.#unacked];
    if (this.#finished && !this.settled) frames.push(this.#finished);
    return frames;
  }
}

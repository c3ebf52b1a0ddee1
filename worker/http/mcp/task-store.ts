import type { CreateTaskOptions, TaskStore } from '@modelcontextprotocol/sdk/experimental/tasks';
import type { Request, RequestId, Result, Task } from '@modelcontextprotocol/sdk/types.js';
import type { ScanError } from '../../../shared/errors/index.ts';
import type { Principal } from '../auth.ts';
import type { Coordinator } from '../../objects/coordinator.do.ts';
import type { TaskRecord } from '../../objects/coordinator/tasks.ts';
import { scanToolResult, type ToolResult } from './results.ts';
import { forMcp } from './wording.ts';

/** A failed scan's task status: the error and its fix, worded for MCP. */
function statusMessageOf(error: ScanError): string {
  const worded = forMcp(error);
  return `${worded.type}: ${worded.message}. What to do: ${worded.recoverySuggestion}`;
}

/** The Coordinator's task record as the SDK's Task: a failed scan's error becomes its status message, for MCP. */
function toTask(record: TaskRecord): Task {
  const { scanError, ...task } = record;
  return (scanError && !task.statusMessage ? { ...task, statusMessage: statusMessageOf(scanError) } : task) as Task;
}

/**
 * The SDK's TaskStore over the Coordinator's durable task table, for one request. The endpoint is stateless, so
 * every call goes to the Durable Object; tasks are bound to the caller's token (another token gets "not found").
 * Results are never stored through here: a task's result is its scan's, built when the scan ends.
 */
export class CoordinatorTaskStore implements TaskStore {
  readonly #coordinator: DurableObjectStub<Coordinator>;
  readonly #principal: Principal;
  /** Whether the last createTask came from a task-augmented tools/call (else the call blocks for the result). */
  augmented = false;
  /** Results this request answers before their scan ends (answerNow). */
  readonly #answeredNow = new Map<string, ToolResult>();

  constructor(coordinator: DurableObjectStub<Coordinator>, principal: Principal) {
    this.#coordinator = coordinator;
    this.#principal = principal;
  }

  async createTask(params: CreateTaskOptions, _requestId: RequestId, request: Request): Promise<Task> {
    this.augmented = typeof (request.params as { task?: unknown } | undefined)?.task === 'object';
    const context = (params.context ?? {}) as { scanId?: string; result?: ToolResult };
    const failure = context.result
      ? // A refused call: the task says why and what to do (clients such as the v1 SDK's callToolStream show a failed
        // task's statusMessage and do not fetch its result).
        {
          message: context.result.content[0]?.text.replace(/\n/g, ' ') ?? 'The call was refused',
          result: JSON.stringify(context.result),
        }
      : null;
    return toTask(
      await this.#coordinator.mcpTaskCreate(this.#principal, {
        scanId: context.scanId ?? null,
        ttl: params.ttl ?? null,
        pollInterval: params.pollInterval ?? 1000,
        failure,
      }),
    );
  }

  async getTask(taskId: string): Promise<Task | null> {
    const record = await this.#coordinator.mcpTaskGet(this.#principal, taskId);
    return record && toTask(record);
  }

  async storeTaskResult(taskId: string): Promise<void> {
    throw new Error(`task ${taskId}: results follow the scan and cannot be stored directly`);
  }

  /**
   * Makes `result` this request's answer for a task whose scan has not ended: a blocking nmap_scan that outlasts
   * its wait returns the scan as it stands. Per request only; the task itself keeps following its scan.
   */
  answerNow(taskId: string, result: ToolResult): void {
    this.#answeredNow.set(taskId, result);
  }

  async getTaskResult(taskId: string): Promise<Result> {
    const now = this.#answeredNow.get(taskId);
    if (now) return now;
    const outcome = await this.#coordinator.mcpTaskOutcome(this.#principal, taskId);
    if (!outcome) throw new Error(`Task ${taskId} has no result yet`);
    return 'stored' in outcome ? (JSON.parse(outcome.stored) as ToolResult) : scanToolResult(outcome.scan);
  }

  async updateTaskStatus(taskId: string, status: Task['status']): Promise<void> {
    if (status !== 'cancelled') throw new Error(`task ${taskId}: status ${status} is set by the scan itself`);
    if (!(await this.#coordinator.mcpTaskCancel(this.#principal, taskId))) throw new Error(`Task ${taskId} not found`);
  }

  async listTasks(cursor?: string): Promise<{ tasks: Task[]; nextCursor?: string }> {
    const page = await this.#coordinator.mcpTaskList(this.#principal, cursor);
    return { tasks: page.tasks.map(toTask), ...(page.nextCursor && { nextCursor: page.nextCursor }) };
  }
}

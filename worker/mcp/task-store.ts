import type { CreateTaskOptions, TaskStore } from '@modelcontextprotocol/sdk/experimental/tasks';
import type { Request, RequestId, Result, Task } from '@modelcontextprotocol/sdk/types.js';
import type { Principal } from '../auth.ts';
import type { Coordinator } from '../coordinator.do.ts';
import type { ToolResult } from './results.ts';

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

  constructor(coordinator: DurableObjectStub<Coordinator>, principal: Principal) {
    this.#coordinator = coordinator;
    this.#principal = principal;
  }

  async createTask(params: CreateTaskOptions, _requestId: RequestId, request: Request): Promise<Task> {
    this.augmented = typeof (request.params as { task?: unknown } | undefined)?.task === 'object';
    const context = (params.context ?? {}) as { scanId?: string; result?: ToolResult };
    return await this.#coordinator.mcpTaskCreate(this.#principal, {
      scanId: context.scanId ?? null,
      ttl: params.ttl ?? null,
      pollInterval: params.pollInterval ?? 1000,
      result: context.result ?? null,
    });
  }

  async getTask(taskId: string): Promise<Task | null> {
    return await this.#coordinator.mcpTaskGet(this.#principal, taskId);
  }

  async storeTaskResult(taskId: string): Promise<void> {
    throw new Error(`task ${taskId}: results follow the scan and cannot be stored directly`);
  }

  async getTaskResult(taskId: string): Promise<Result> {
    const result = await this.#coordinator.mcpTaskResult(this.#principal, taskId);
    if (!result) throw new Error(`Task ${taskId} has no result yet`);
    return result;
  }

  async updateTaskStatus(taskId: string, status: Task['status']): Promise<void> {
    if (status !== 'cancelled') throw new Error(`task ${taskId}: status ${status} is set by the scan itself`);
    if (!(await this.#coordinator.mcpTaskCancel(this.#principal, taskId))) throw new Error(`Task ${taskId} not found`);
  }

  async listTasks(cursor?: string): Promise<{ tasks: Task[]; nextCursor?: string }> {
    return await this.#coordinator.mcpTaskList(this.#principal, cursor);
  }
}

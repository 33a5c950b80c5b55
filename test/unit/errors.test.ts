import { describe, expect, it } from 'vitest';
import { AgentError, asAgentError } from '../../src/core/errors.js';

describe('AgentError', () => {
  it('marks database and command failures retryable, config errors not', () => {
    expect(new AgentError('db_connection', 'down').retryable).toBe(true);
    expect(new AgentError('config', 'bad').retryable).toBe(false);
  });
  it('keeps an AgentError and wraps anything else', () => {
    const original = new AgentError('io', 'disk');
    expect(asAgentError(original, 'db_query', 'x')).toBe(original);
    const wrapped = asAgentError(new Error('boom'), 'db_query', 'select failed');
    expect(wrapped.kind).toBe('db_query');
    expect(wrapped.message).toBe('select failed: boom');
  });
});

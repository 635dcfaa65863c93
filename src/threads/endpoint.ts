import type { MessagePort } from 'node:worker_threads';
import type { Endpoint } from 'comlink';

type Listener = ((ev: { data: unknown }) => void) | { handleEvent(ev: { data: unknown }): void };

/** comlink speaks DOM-style ports; Node's MessagePort has on/off and no event wrapper. */
export function endpoint(port: MessagePort): Endpoint {
  const wrapped = new WeakMap<object, (data: unknown) => void>();
  return ({
    postMessage: (message: unknown, transfer?: unknown[]) => port.postMessage(message, transfer as never),
    addEventListener: (_type: string, listener: Listener) => {
      const fn = (data: unknown) => {
        const ev = { data };
        if (typeof listener === 'function') listener(ev);
        else listener.handleEvent(ev);
      };
      wrapped.set(listener, fn);
      port.on('message', fn);
    },
    removeEventListener: (_type: string, listener: Listener) => {
      const fn = wrapped.get(listener);
      if (fn !== undefined) port.off('message', fn);
    },
    start: () => port.start(),
  }) as unknown as Endpoint;
}

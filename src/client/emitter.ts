/**
 * A small typed event emitter with no Node import, so the client runs in browsers as it is.
 */
// biome-ignore lint/suspicious/noExplicitAny: listener argument lists are checked through EventMap
type Listener = (...args: any[]) => void;

export class Emitter<EventMap extends { [K in keyof EventMap]: Listener }> {
  private readonly listeners = new Map<keyof EventMap, Listener[]>();

  on<K extends keyof EventMap>(event: K, listener: EventMap[K]): this {
    const list = this.listeners.get(event);
    if (list === undefined) this.listeners.set(event, [listener]);
    else list.push(listener);
    return this;
  }

  once<K extends keyof EventMap>(event: K, listener: EventMap[K]): this {
    const wrapper = ((...args: Parameters<EventMap[K]>) => {
      this.off(event, wrapper as EventMap[K]);
      listener(...args);
    }) as EventMap[K];
    return this.on(event, wrapper);
  }

  off<K extends keyof EventMap>(event: K, listener: EventMap[K]): this {
    const list = this.listeners.get(event);
    if (list !== undefined) {
      const i = list.indexOf(listener);
      if (i >= 0) list.splice(i, 1);
    }
    return this;
  }

  listenerCount<K extends keyof EventMap>(event: K): number {
    return this.listeners.get(event)?.length ?? 0;
  }

  protected emit<K extends keyof EventMap>(event: K, ...args: Parameters<EventMap[K]>): boolean {
    const list = this.listeners.get(event);
    if (list === undefined || list.length === 0) return false;
    for (const l of list.length === 1 ? list : [...list]) l(...args);
    return true;
  }
}

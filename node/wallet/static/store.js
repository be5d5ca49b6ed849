// The device's own storage: one IndexedDB database, one key-value object store.
//
// How this works: values are kept by structured clone, so a CryptoKeyPair made with
// `extractable: false` is stored as it is and comes back just as non-extractable: its private key
// never exists as bytes anywhere a script can read. Keys of the store: "device" (the member's key
// pair and ids), "nonce" (the last nonce this device signed, a decimal string), "community" (the
// community's public name, unit and feed id, for a wallet opened offline).
const databaseName = "tallystick-wallet";
const storeName = "kv";

function open() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(databaseName, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(storeName);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function transact(mode, work) {
  const database = await open();
  try {
    return await new Promise((resolve, reject) => {
      const transaction = database.transaction(storeName, mode);
      const result = work(transaction.objectStore(storeName));
      transaction.oncomplete = () => resolve(result.result);
      transaction.onerror = () => reject(transaction.error);
      transaction.onabort = () => reject(transaction.error);
    });
  } finally {
    database.close();
  }
}

export function get(key) {
  return transact("readonly", (store) => store.get(key));
}

export function put(key, value) {
  return transact("readwrite", (store) => store.put(value, key));
}

export function remove(key) {
  return transact("readwrite", (store) => store.delete(key));
}

// Read, change and write one key in one transaction (no other tab interleaves): the nonce counter.
export function update(key, change) {
  return transact("readwrite", (store) => {
    const holder = { result: undefined };
    const request = store.get(key);
    request.onsuccess = () => {
      holder.result = change(request.result);
      store.put(holder.result, key);
    };
    return holder;
  });
}

// ---- the outbox (outbox.js): payments signed while the node could not be reached ----
// Kept under the key "outbox" of the same store, as one array of entries, each the exact signed
// bytes of a payment (in the JSON body POST /api/intents takes) with what the screens show of it.
// Every change is one read-change-write transaction (`update`), so two tabs never interleave:
// adding past the bound, claiming an entry to send, settling or cancelling it see one list.
export const outboxKey = "outbox";

// The outbox's entries now, oldest first (a copy: changing it changes nothing stored).
export async function outboxEntries() {
  return (await get(outboxKey)) ?? [];
}

// Change the outbox in one transaction: `change(entries)` returns the new list, and the value to
// answer in `holder.answer` (what it found, claimed or refused).
export async function changeOutbox(change) {
  const holder = { answer: undefined };
  await update(outboxKey, (entries) => {
    const { next, answer } = change(entries ?? []);
    holder.answer = answer;
    return next;
  });
  return holder.answer;
}

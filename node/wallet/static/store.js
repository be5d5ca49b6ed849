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

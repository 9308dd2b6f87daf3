/** The reference session of issue #14, shared by the benches that compare stored sessions. */
export const REFERENCE_USER = { id: 12345, name: 'alice' };

/** Its cart: ten items of one shape. */
export const referenceCart = () =>
  Array.from({ length: 10 }, () => ({ sku: 'SKU-000123', qty: 2, price: 19.99 }));

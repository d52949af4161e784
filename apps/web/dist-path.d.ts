/** Absolute path of the built web app (dist/, ending in a slash). */
export declare const webDistDir: string
/** True once `vite build` has written the page (its index.html). */
export declare function webDistBuilt(): boolean

-- Document chunks are embedded automatically, like messages: public.document_chunks becomes an embedding
-- source whose content is `search_text` (heading path + content, null for parent chunks, which are not
-- embedded). Ingesting or editing chunks queues one job per chunk and target model (one pgmq.send_batch
-- per statement); deleting a document removes its chunks' embeddings. Adds document_chunks.content_hash
-- (sha256 hex of search_text, stored generated column). Token counts of chunks come from the chunker
-- (the ingest function counts them with the embedding model's tokenizer), so the worker leaves them alone.

select util.register_embedding_source(
  source => 'public.document_chunks',
  content_column => 'search_text',
  owner_column => 'owner_id'
);

comment on column public.document_chunks.content_hash is 'sha256 (hex) of search_text; embedding jobs and embeddings refer to it.';

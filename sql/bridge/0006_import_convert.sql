-- How a move converts its file to Ogg Vorbis on the way into the library (the pezzottify
-- layout serves every file as audio/ogg): NULL = moved as it is (renamed, or copied across
-- filesystems), 'sndfile' = encoded by libsndfile, 'ffmpeg' = by ffmpeg. A converting move
-- writes the journal's hidden temporary file (tmp, tmp_ino) and renames it into place, like
-- a copy: a crash mid-conversion leaves no partial file in the library, and the next run
-- converts again (state 'planned') or only renames (state 'copied').
ALTER TABLE import_moves ADD COLUMN convert TEXT CHECK (convert IS NULL OR convert IN ('sndfile', 'ffmpeg'));

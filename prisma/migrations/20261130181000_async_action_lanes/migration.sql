-- An import applied in lanes (src/jobs/runner.ts): each lane's own position and input read, so
-- that a worker that stops or dies mid-import resumes every lane where its last batch committed.
ALTER TABLE "async_actions" ADD COLUMN     "lane_input_read" INTEGER[] DEFAULT ARRAY[]::INTEGER[],
ADD COLUMN     "lane_positions" INTEGER[] DEFAULT ARRAY[]::INTEGER[];

from exposcan._entry import run

run()
